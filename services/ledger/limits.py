"""What one request may carry into a ledger statement, checked before the statement is sent.

A statement that PostgreSQL refuses fails as a whole, and `SendBatcher` puts many users' sends
into one statement: whatever would make it fail (a NUL or a lone surrogate in a string bound
for jsonb or text, an amount no NUMERIC(39,0) total can take) is refused here, per request,
with a domain error of its own. The asset's limits are enforced again inside
tokens.create_transfers, race-safe; checking them here gives the caller a clear error first.
"""

from __future__ import annotations

from typing import Any

from services.ledger.amounts import MAX_UNITS, format_amount
from services.ledger.errors import AmountTooLarge, InvalidAmount, InvalidText
from services.ledger.schemas import Asset


def check_amount(asset: Asset, amount: int) -> None:
    """A positive integer of smallest units within the asset's per-operation maximum.

    Raises ValidationError (invalid_amount, amount_too_large).
    """
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount("amount must be a positive integer")
    limit = MAX_UNITS if asset.max_amount is None else min(asset.max_amount, MAX_UNITS)
    if amount > limit:
        raise AmountTooLarge(
            "amount is too large",
            max=format_amount(limit, asset.decimals),
            asset=asset.code,
        )


def check_storable(value: Any, *, field: str) -> None:
    """Every string in `value` (nested in dicts and lists) can be stored as text and jsonb:
    valid UTF-8 without NUL. Raises ValidationError(invalid_text).
    """
    if isinstance(value, str):
        if "\x00" in value or not _encodable(value):
            raise InvalidText("text contains characters that cannot be stored", field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, field=field)
            check_storable(item, field=field)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable(item, field=field)


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no UTF-8 text holds them
        return False
    return True
