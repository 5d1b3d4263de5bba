"""Every user-facing text, per language, from Fluent files `locales/<lang>/<feature>.ftl`.

The bot formats them here with `fluent.runtime`; the Mini App gets the same messages
(`GET /api/v1/texts`) and formats them in the browser with `@fluent/bundle`, so plural forms
and number formats come from one source and CLDR's rules on both sides.

Callers name a text by key (`error.invalid_amount`); Fluent ids cannot hold dots, so the
message id is the key with `-` for `.` (`error-invalid_amount`): `message_id` and `text_key`
are the only places that know it. A message defined twice in one language, or a file Fluent
cannot parse, is an error at load time.

A missing message in a non-default language falls back to English; a message missing
everywhere is a bug caught by the catalog test, never shown to a user as a raw key.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from fluent.runtime import FluentBundle
from fluent.syntax import FluentParser, FluentSerializer
from fluent.syntax import ast as ftl
from fluent.syntax.visitor import Visitor

from services.i18n.languages import DEFAULT_LANGUAGE

LOCALES_DIR = Path(__file__).with_name("locales")

FluentArgument = str | int | float | Decimal | date


def message_id(key: str) -> str:
    return key.replace(".", "-")


def text_key(message_id: str) -> str:
    return message_id.replace("-", ".")


@dataclass(frozen=True)
class Text:
    """One message as its translator wrote it."""

    key: str
    source: str  # the message in Fluent syntax, with its comment
    variables: frozenset[str]  # the `$name`s it reads


@dataclass(frozen=True)
class Catalog:
    texts: dict[str, dict[str, Text]]  # language -> key -> text
    bundles: dict[str, FluentBundle]
    terms: dict[str, str]  # language -> its `-term`s in Fluent syntax, which messages may use

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def translator(self, language: str) -> Translator:
        return Translator(self, language if language in self.texts else DEFAULT_LANGUAGE)

    def get(self, language: str, key: str, **params: Any) -> str:
        """The text of `key` in `language` (else English), as Telegram HTML.

        Raises KeyError for a key no language has or a parameter the text needs and did not
        get, as `str.format` did: the bot's error handler then shows the error's own message.
        """
        bundle = self._bundle_with(language, key)
        pattern = bundle.get_message(message_id(key)).value
        if pattern is None:
            raise KeyError(key)
        text, errors = bundle.format_pattern(pattern, _arguments(params))
        if errors or not isinstance(text, str):
            raise KeyError(f"{key}: {errors}")
        return text

    def _bundle_with(self, language: str, key: str) -> FluentBundle:
        for candidate in (language, DEFAULT_LANGUAGE):
            bundle = self.bundles.get(candidate)
            if bundle is not None and bundle.has_message(message_id(key)):
                return bundle
        raise KeyError(key)


@dataclass(frozen=True)
class Translator:
    catalog: Catalog
    language: str

    def __call__(self, key: str, **params: Any) -> str:
        return self.catalog.get(self.language, key, **params)


def _arguments(params: Mapping[str, Any]) -> dict[str, FluentArgument]:
    """Texts are Telegram HTML, so string parameters (names, usernames, memos) are escaped.

    Numbers and dates stay values: Fluent picks the plural form by them and writes them the
    way the language does (`NUMBER`, `DATETIME`). Amounts arrive already written as strings.
    """
    converted: dict[str, FluentArgument] = {}
    for name, value in params.items():
        if isinstance(value, int | float | Decimal | date) and not isinstance(value, bool):
            converted[name] = value
        else:
            text = value if isinstance(value, str) else str(value)
            converted[name] = html.escape(text, quote=False)
    return converted


def load_catalog(directory: Path = LOCALES_DIR) -> Catalog:
    texts: dict[str, dict[str, Text]] = {}
    bundles: dict[str, FluentBundle] = {}
    terms: dict[str, str] = {}
    for language_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        language = language_dir.name
        # No Unicode isolation marks (U+2068/U+2069) around placeables: they are invisible
        # characters that would travel into every Telegram HTML message and break the plain
        # string comparisons of tests and of the Mini App's copy of the same messages. Both
        # our languages are left-to-right, which is what the marks guard against.
        bundle = FluentBundle([language], use_isolating=False)
        messages: dict[str, Text] = {}
        language_terms: list[str] = []
        for path in sorted(language_dir.glob("*.ftl")):
            resource = _parse(path)
            for entry in resource.body:
                if isinstance(entry, ftl.Term):
                    language_terms.append(_SERIALIZER.serialize_entry(entry))
                if not isinstance(entry, ftl.Message):
                    continue
                text = _text(entry)
                if text.key in messages:
                    raise RuntimeError(f"{path}: {entry.id.name} is defined twice")
                messages[text.key] = text
            bundle.add_resource(resource)
        texts[language], bundles[language] = messages, bundle
        terms[language] = "".join(language_terms)
    if DEFAULT_LANGUAGE not in texts:
        raise RuntimeError(f"no {DEFAULT_LANGUAGE}/ in {directory}")
    return Catalog(texts, bundles, terms)


_SERIALIZER = FluentSerializer()


def _parse(path: Path) -> ftl.Resource:
    resource = FluentParser(with_spans=False).parse(path.read_text(encoding="utf-8"))
    junk = [entry for entry in resource.body if isinstance(entry, ftl.Junk)]
    if junk:
        problems = "; ".join(a.message or a.code for j in junk for a in j.annotations)
        raise RuntimeError(f"{path}: not valid Fluent: {problems}")
    return resource


def _text(message: ftl.Message) -> Text:
    found = _Variables()
    found.visit(message)
    return Text(
        key=text_key(message.id.name),
        source=_SERIALIZER.serialize_entry(message),
        variables=frozenset(found.names),
    )


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_VariableReference(self, node: ftl.VariableReference) -> None:
        self.names.add(node.id.name)
