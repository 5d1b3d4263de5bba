"""Properties of the edge validators and amount parsing, for any string and any number.

Whatever comes in, the answer is a value or our ValidationError (a 4xx), never another
exception; what is accepted is NFC, free of control characters and round-trips.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pydantic
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from services.errors import ValidationError
from services.ledger.amounts import MAX_UNITS, format_amount, parse_amount, parse_units
from services.ledger.history import decode_cursor, encode_cursor
from services.users.schemas import TelegramProfile, profile_of
from services.validation import (
    MAX_TELEGRAM_ID,
    SafeText,
    TelegramId,
    clean_text,
    echo,
    parse_digits,
    parse_telegram_id,
)

# Deterministic in CI: the same examples every run, no flaky deadline on a slow machine.
PROPERTY = settings(derandomize=True, deadline=None, max_examples=300, database=None)
UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Any code point, surrogates and controls included: what JSON's \uXXXX escapes can produce.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)
# Decimal digits that are not ASCII: "١", "१", "１", ... and superscripts, which isdigit() takes.
UNICODE_DIGITS = st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii())


class Note(BaseModel):
    text: SafeText = Field(max_length=50)


class Person(BaseModel):
    id: TelegramId


def _is_clean(text: str) -> bool:
    return UNSHOWABLE.search(text) is None and unicodedata.is_normalized("NFC", text)


@PROPERTY
@given(ANY_TEXT)
@example("a\x00b")
@example("\ud800")
@example("e\u0301")
def test_clean_text_accepts_only_clean_nfc(text: str) -> None:
    try:
        cleaned = clean_text(text, max_length=50)
    except ValidationError as exc:
        assert exc.status == 422
        assert UNSHOWABLE.search(text) or len(text) > 50
        return
    assert _is_clean(cleaned)
    assert cleaned == unicodedata.normalize("NFC", text)
    assert clean_text(cleaned, max_length=len(cleaned)) == cleaned


@PROPERTY
@given(ANY_TEXT)
@example("a\x00b")
@example("\udfff")
def test_safe_text_model_agrees_with_clean_text(text: str) -> None:
    try:
        model = Note(text=text)
    except pydantic.ValidationError:
        with pytest.raises(ValidationError):
            clean_text(text, max_length=50)
        return
    assert model.text == clean_text(text, max_length=50)


@PROPERTY
@given(ANY_TEXT)
def test_echo_is_always_showable_and_storable(text: str) -> None:
    shown = echo(text)
    assert UNSHOWABLE.search(shown) is None
    shown.encode("utf-8")
    assert len(shown) <= 64


@PROPERTY
@given(st.one_of(ANY_TEXT, st.integers().map(str), st.text("0123456789", max_size=60)))
def test_parse_digits_is_ascii_only_and_round_trips(text: str) -> None:
    value = parse_digits(text, max_digits=40)
    if value is None:
        assert not (0 < len(text) <= 40 and text.isascii() and text.isdigit())
    else:
        assert text.isascii() and text.isdigit() and int(text) == value


@PROPERTY
@given(st.text(UNICODE_DIGITS, min_size=1, max_size=5), st.text("0123456789", max_size=5))
def test_unicode_digits_are_not_numbers(digits: str, ascii_digits: str) -> None:
    mixed = ascii_digits + digits
    assert parse_digits(mixed, max_digits=40) is None
    assert parse_telegram_id(mixed) is None
    with pytest.raises(ValidationError):
        parse_units(mixed)
    with pytest.raises(ValidationError):
        parse_amount(mixed, 6)


@PROPERTY
@given(st.integers())
@example(0)
@example(-1)
@example(2**63)
@example(MAX_TELEGRAM_ID)
@example(MAX_TELEGRAM_ID + 1)
def test_telegram_id_range_is_one_rule(number: int) -> None:
    in_range = 1 <= number <= MAX_TELEGRAM_ID
    assert (parse_telegram_id(str(number)) == number) is in_range
    try:
        assert Person(id=number).id == number and in_range
    except pydantic.ValidationError:
        assert not in_range
    if in_range:
        assert -(2**63) <= number < 2**63  # fits PostgreSQL bigint


@PROPERTY
@given(
    st.integers(min_value=-(2**70), max_value=2**70),
    ANY_TEXT,
    st.one_of(st.none(), ANY_TEXT),
)
def test_profile_is_valid_or_invalid_profile(
    telegram_id: int, first_name: str, username: str | None
) -> None:
    class Person:
        id = telegram_id
        last_name = None
        language_code = "en"
        is_premium = None

    Person.first_name = first_name  # type: ignore[attr-defined]
    Person.username = username  # type: ignore[attr-defined]
    try:
        profile = profile_of(Person())  # type: ignore[arg-type]
    except ValidationError as exc:
        assert exc.code == "invalid_profile"
        return
    assert isinstance(profile, TelegramProfile)
    assert 1 <= profile.telegram_id <= MAX_TELEGRAM_ID
    assert _is_clean(profile.first_name)
    assert profile.username is None or _is_clean(profile.username)


@PROPERTY
@given(ANY_TEXT, st.integers(min_value=0, max_value=30))
@example("1" * 5000, 6)
@example("²", 0)
@example("1.", 0)
def test_parse_amount_never_raises_anything_else(text: str, decimals: int) -> None:
    try:
        units = parse_amount(text, decimals)
    except ValidationError as exc:
        assert exc.code in {"invalid_amount", "too_many_decimals", "amount_too_large"}
        return
    assert 0 < units <= MAX_UNITS


@PROPERTY
@given(st.integers(min_value=1, max_value=MAX_UNITS), st.integers(min_value=0, max_value=30))
def test_amounts_round_trip(units: int, decimals: int) -> None:
    assert parse_amount(format_amount(units, decimals), decimals) == units
    assert parse_units(str(units)) == units


@PROPERTY
@given(ANY_TEXT)
@example("0" * 39)
@example("9" * 40)
def test_parse_units_never_raises_anything_else(text: str) -> None:
    try:
        units = parse_units(text)
    except ValidationError as exc:
        assert exc.code == "invalid_amount"
        return
    assert 0 < units <= MAX_UNITS and str(units) == text.lstrip("0")


@PROPERTY
@given(ANY_TEXT)
@example("MDAwMS0wMS0wMVQwMDowMDowMCswNTowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA")
def test_decode_cursor_is_a_value_or_invalid_cursor(cursor: str) -> None:
    try:
        at, ident = decode_cursor(cursor)
    except ValidationError as exc:
        assert exc.code == "invalid_cursor"
        return
    assert at.utcoffset() == timedelta(0) and isinstance(ident, UUID)


@PROPERTY
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(9000, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5)), timezone(-timedelta(hours=9))]
        ),
    ),
    st.uuids(),
)
def test_cursor_round_trips(at: datetime, ident: UUID) -> None:
    assert decode_cursor(encode_cursor(at, ident)) == (at, ident)
