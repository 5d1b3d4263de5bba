"""Every user-facing text, per language, from `locales/<lang>/<feature>.json`.

Each feature keeps its own file (keys prefixed with the feature name); a key defined twice in
one language is an error at load time.

A missing key in a non-default language falls back to English; a key missing everywhere is a
bug caught by the catalog test, never shown to a user as a raw key.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.i18n.languages import DEFAULT_LANGUAGE

LOCALES_DIR = Path(__file__).with_name("locales")


@dataclass(frozen=True)
class Catalog:
    texts: dict[str, dict[str, str]]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def translator(self, language: str) -> Translator:
        return Translator(self, language if language in self.texts else DEFAULT_LANGUAGE)

    def get(self, language: str, key: str, **params: Any) -> str:
        """Texts are Telegram HTML, so string parameters (names, usernames) are escaped."""
        text = self.texts.get(language, {}).get(key) or self.texts[DEFAULT_LANGUAGE][key]
        if not params:
            return text
        safe = {
            k: html.escape(v, quote=False) if isinstance(v, str) else v for k, v in params.items()
        }
        return text.format(**safe)


@dataclass(frozen=True)
class Translator:
    catalog: Catalog
    language: str

    def __call__(self, key: str, **params: Any) -> str:
        return self.catalog.get(self.language, key, **params)


def load_catalog(directory: Path = LOCALES_DIR) -> Catalog:
    texts: dict[str, dict[str, str]] = {}
    for language_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        merged: dict[str, str] = {}
        for path in sorted(language_dir.glob("*.json")):
            part: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
            twice = merged.keys() & part.keys()
            if twice:
                raise RuntimeError(f"{path}: keys defined twice: {sorted(twice)}")
            merged.update(part)
        texts[language_dir.name] = merged
    if DEFAULT_LANGUAGE not in texts:
        raise RuntimeError(f"no {DEFAULT_LANGUAGE}/ in {directory}")
    return Catalog(texts)
