"""Human amounts <-> integer smallest units, exactly: string and integer math, no floats.

`parse_amount("10.5", 6) == 10_500_000`; more fractional digits than the asset has is an
error, never a silent rounding.
"""

from __future__ import annotations

import re

from services.ledger.errors import AmountTooLarge, InvalidAmount, TooManyDecimals

_HUMAN = re.compile(r"^(?P<whole>[0-9]+)?(?:[.,](?P<fraction>[0-9]*))?$")
# NUMERIC(39,0) holds up to 39 digits.
MAX_UNITS = 10**39 - 1


def parse_amount(text: str, decimals: int) -> int:
    """A positive human amount ("10", "10.5", "0,25") as smallest units.

    Raises ValidationError with code invalid_amount, too_many_decimals or amount_too_large.
    """
    raw = text.strip().replace("_", "").replace(" ", "")
    match = _HUMAN.match(raw)
    if not raw or match is None or not (match["whole"] or match["fraction"]):
        raise InvalidAmount("not an amount", amount=text)
    whole: str = (match["whole"] or "0").lstrip("0")
    fraction: str = (match["fraction"] or "").rstrip("0")
    if len(whole) > len(str(MAX_UNITS)):
        # Before int(): it refuses (ValueError) strings of more than 4300 digits.
        raise AmountTooLarge("amount is too large")
    if len(fraction) > decimals:
        raise TooManyDecimals("more decimals than the asset has", decimals=decimals)
    scale: int = 10**decimals
    units = int(whole or "0") * scale + int(fraction.ljust(decimals, "0") or "0")
    if units <= 0:
        raise InvalidAmount("amount must be positive", amount=text)
    if units > MAX_UNITS:
        raise AmountTooLarge("amount is too large")
    return units


def format_amount(units: int, decimals: int) -> str:
    """Smallest units as a human amount without trailing zeros: 10_500_000, 6 -> "10.5"."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**decimals)
    if decimals == 0 or fraction == 0:
        return f"{sign}{whole}"
    digits = str(fraction).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


def parse_units(text: str) -> int:
    """An amount in smallest units as it travels in JSON: a string of digits, positive.

    Raises ValidationError (invalid_amount, amount_too_large).
    """
    if not text.isascii() or not text.isdigit() or len(text) > 39:
        raise InvalidAmount("amount must be a string of digits", amount=text)
    units = int(text)
    if units <= 0:
        raise InvalidAmount("amount must be positive", amount=text)
    return units
