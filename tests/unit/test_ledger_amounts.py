"""Exact human <-> smallest-unit conversion: no floats, no silent rounding."""

from __future__ import annotations

import random

import pytest

from services.errors import ValidationError
from services.ledger.amounts import MAX_UNITS, format_amount, parse_amount, parse_units


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("10", 6, 10_000_000),
        ("10.5", 6, 10_500_000),
        ("0,25", 6, 250_000),
        (".5", 9, 500_000_000),
        ("1.", 6, 1_000_000),
        ("0.000001", 6, 1),
        ("1.500000", 6, 1_500_000),
        ("1_000", 0, 1000),
        ("0.000000000000000001", 18, 1),
        ("123456789.123456789123456789", 18, 123456789_123456789123456789),
    ],
)
def test_parses_exactly(text: str, decimals: int, units: int) -> None:
    assert parse_amount(text, decimals) == units


@pytest.mark.parametrize(
    ("text", "decimals", "code"),
    [
        ("1.0000001", 6, "too_many_decimals"),
        ("0.5", 0, "too_many_decimals"),
        ("0", 6, "invalid_amount"),
        ("0.000", 6, "invalid_amount"),
        ("-1", 6, "invalid_amount"),
        ("1e3", 6, "invalid_amount"),
        ("", 6, "invalid_amount"),
        (".", 6, "invalid_amount"),
        ("1.2.3", 6, "invalid_amount"),
        ("NaN", 6, "invalid_amount"),
        ("١٢", 6, "invalid_amount"),
        ("9" * 40, 0, "amount_too_large"),
    ],
)
def test_rejects_what_is_not_exact(text: str, decimals: int, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(text, decimals)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("units", "decimals", "text"),
    [
        (10_500_000, 6, "10.5"),
        (1, 6, "0.000001"),
        (20_000_000, 6, "20"),
        (7, 0, "7"),
        (0, 9, "0"),
        (-1_500, 3, "-1.5"),
    ],
)
def test_formats_without_trailing_zeros(units: int, decimals: int, text: str) -> None:
    assert format_amount(units, decimals) == text


def test_format_then_parse_round_trips() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        decimals = rng.choice([0, 6, 9, 18])
        units = rng.randint(1, MAX_UNITS)
        assert parse_amount(format_amount(units, decimals), decimals) == units


def test_units_travel_as_digit_strings() -> None:
    assert parse_units("20000000") == 20_000_000
    for bad in ("0", "-1", "1.5", "1e6", " 1", "", "1" * 40, "١"):
        with pytest.raises(ValidationError):
            parse_units(bad)
