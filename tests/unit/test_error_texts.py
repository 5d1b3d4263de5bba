"""Every error a front door can show has a text in every language, and a class per code."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import services
import webapp_api
from services.errors import DomainError
from services.i18n import Catalog
from services.ledger.errors import RESULT_ERRORS, SUCCESS
from webapp_api.idempotency import ReplayedError

ROOT = Path(__file__).resolve().parents[2]
# Replays whatever code the first attempt had; that code's class is checked on its own.
DYNAMIC: set[type[DomainError]] = {ReplayedError}


def _import_all() -> None:
    for package in (services, webapp_api):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found: set[type[DomainError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def domain_errors() -> list[type[DomainError]]:
    _import_all()
    ours = (
        c for c in _subclasses(DomainError) if c.__module__.startswith(("services.", "webapp_api."))
    )
    return sorted(set(ours) - DYNAMIC, key=lambda c: (c.__module__, c.__name__))


def test_every_error_code_has_a_text_in_every_language(catalog: Catalog) -> None:
    errors = domain_errors()
    assert len(errors) > 40  # the walk found the capability modules
    missing = [
        f"{language}: error.{cls.code} ({cls.__module__}.{cls.__name__})"
        for cls in errors
        for language, texts in catalog.texts.items()
        if f"error.{cls.code}" not in texts
    ]
    assert not missing, "no text for:\n" + "\n".join(missing)


def test_one_class_per_code() -> None:
    by_code: dict[str, list[str]] = {}
    for cls in domain_errors():
        by_code.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__name__}")
    assert {code: names for code, names in by_code.items() if len(names) > 1} == {}


def test_every_ledger_result_code_has_a_class() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "migrations" / "versions").glob("*.py"))
    answered = set(re.findall(r"results\[\w+\] := '(\w+)'", sources)) - SUCCESS
    assert answered <= set(RESULT_ERRORS), answered - set(RESULT_ERRORS)
