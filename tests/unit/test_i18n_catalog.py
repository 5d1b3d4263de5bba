from __future__ import annotations

import string

from services.i18n import SUPPORTED_LANGUAGES, Catalog


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_key_with_the_same_placeholders(catalog: Catalog) -> None:
    english = catalog.texts["en"]
    for language, texts in catalog.texts.items():
        assert texts.keys() == english.keys(), f"{language} differs from en"
        for key, text in texts.items():
            assert _fields(text) == _fields(english[key]), f"{language}:{key} placeholders differ"


def test_the_catalog_speaks_exactly_the_supported_languages(catalog: Catalog) -> None:
    # The bot's language menu and the API's accepted languages come from SUPPORTED_LANGUAGES.
    assert sorted(catalog.languages) == sorted(SUPPORTED_LANGUAGES)


def test_parameters_are_html_escaped(catalog: Catalog) -> None:
    assert "&lt;b&gt;" in catalog.get("en", "start.welcome", name="<b>")
