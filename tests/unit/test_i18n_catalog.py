from __future__ import annotations

from pathlib import Path

import pytest

from services.i18n import SUPPORTED_LANGUAGES, Catalog, load_catalog


def test_every_language_has_every_message_with_the_same_variables(catalog: Catalog) -> None:
    english = catalog.texts["en"]
    for language, texts in catalog.texts.items():
        assert texts.keys() == english.keys(), f"{language} differs from en"
        for key, text in texts.items():
            assert text.variables == english[key].variables, f"{language}:{key} variables differ"


def test_every_message_formats_in_every_language(catalog: Catalog) -> None:
    # A message whose selector or function Fluent cannot resolve fails here, not in a chat.
    for language, texts in catalog.texts.items():
        for key, text in texts.items():
            params = {name: 1 for name in text.variables}
            assert catalog.get(language, key, **params), f"{language}:{key}"


def test_the_catalog_speaks_exactly_the_supported_languages(catalog: Catalog) -> None:
    # The bot's language menu and the API's accepted languages come from SUPPORTED_LANGUAGES.
    assert sorted(catalog.languages) == sorted(SUPPORTED_LANGUAGES)


def test_parameters_are_html_escaped(catalog: Catalog) -> None:
    assert "&lt;b&gt;" in catalog.get("en", "start.welcome", name="<b>")


def test_no_bidi_isolation_marks_around_parameters(catalog: Catalog) -> None:
    assert catalog.get("en", "miniapp.history.from", name="Ann") == "From Ann"


@pytest.mark.parametrize(
    ("count", "word"),
    [(1, "перевод"), (2, "перевода"), (5, "переводов"), (21, "перевод"), (11, "переводов"),
     (4, "перевода"), (12, "переводов"), (22, "перевода"), (111, "переводов"), (0, "переводов")],
)  # fmt: skip
def test_russian_plural_forms(catalog: Catalog, count: int, word: str) -> None:
    text = catalog.get("ru", "send.received_summary", count=count, total="1 VIBE", senders="@ann")
    assert text.startswith(f"Вы получили <b>{count}</b> {word} на сумму"), text


@pytest.mark.parametrize(
    ("count", "word"), [(1, "transfer"), (2, "transfers"), (5, "transfers"), (21, "transfers")]
)
def test_english_plural_forms(catalog: Catalog, count: int, word: str) -> None:
    text = catalog.get("en", "send.received_summary", count=count, total="1 VIBE", senders="x")
    assert text.startswith(f"You received <b>{count}</b> {word} totalling"), text


def test_numbers_are_written_the_languages_way(catalog: Catalog) -> None:
    params = {"count": 1234, "total": "1 VIBE", "senders": "x"}
    assert "<b>1,234</b> transfers" in catalog.get("en", "send.received_summary", **params)
    # Russian groups digits with a no-break space; 1234 ends in 4, so it is "few".
    assert "<b>1\xa0234</b> перевода" in catalog.get("ru", "send.received_summary", **params)


def test_a_message_missing_in_russian_falls_back_to_english(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "ru").mkdir()
    (tmp_path / "en" / "core.ftl").write_text("hello = Hello, { $name }!\nbye = Bye\n")
    (tmp_path / "ru" / "core.ftl").write_text("bye = Пока\n")
    catalog = load_catalog(tmp_path)
    assert catalog.get("ru", "bye") == "Пока"
    assert catalog.get("ru", "hello", name="<Маша>") == "Hello, &lt;Маша&gt;!"
    assert catalog.translator("de")("bye") == "Bye"


def test_a_missing_message_or_parameter_is_a_key_error(catalog: Catalog) -> None:
    # The bot's error handler relies on it to show the error's own message instead.
    with pytest.raises(KeyError):
        catalog.get("ru", "no.such.text")
    with pytest.raises(KeyError):
        catalog.get("ru", "start.welcome")


def test_a_message_defined_twice_or_broken_fluent_stops_the_load(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "a.ftl").write_text("hello = Hello\n")
    (tmp_path / "en" / "b.ftl").write_text("hello = Hi\n")
    with pytest.raises(RuntimeError, match="defined twice"):
        load_catalog(tmp_path)
    (tmp_path / "en" / "b.ftl").write_text("bye = { $count ->\n [one] x\n}\n")
    with pytest.raises(RuntimeError, match="not valid Fluent"):
        load_catalog(tmp_path)
