"""The market's arithmetic, in integers only: what a taker pays, the fee, the book's order.

An offer sells `sell` units for `buy` units. A taker who takes `amount` sell units pays
ceil(amount × buy / sell): never less than the ratio, so the maker always gets at least the
price they asked, whatever the fill sizes (the rounding goes to the maker, never the taker).
The fee is taken from what the taker receives, rounded down. Every leg is an integer moved
between two accounts, so the ledger's zero sum holds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

BPS = 10_000
# floor(buy × 10^80 / sell): two ratios of integers below 10^39 differ by at least 10^-78, so
# distinct prices get distinct keys, in the same order (migration 0014_market, `price_key`).
PRICE_SCALE = 10**80
# Digits after the point of a price shown to people.
PRICE_DIGITS = 6


def taker_pays(amount: int, sell: int, buy: int) -> int:
    """ceil(amount × buy / sell), for 0 < amount."""
    return -(-amount * buy // sell)


def market_fee(amount: int, fee_bps: int) -> int:
    """floor(amount × fee_bps / 10 000): below `amount` for any fee under 100%."""
    return amount * fee_bps // BPS


def price_key(sell: int, buy: int) -> int:
    """The book's order: the lower, the better for a taker (less paid per unit received)."""
    return buy * PRICE_SCALE // sell


@dataclass(frozen=True)
class FillTerms:
    """One fill of `amount` sell units: the legs the ledger moves."""

    amount: int
    paid: int
    fee: int

    @property
    def received(self) -> int:
        """Sell units the taker gets after the fee."""
        return self.amount - self.fee


def fill_terms(amount: int, *, sell: int, buy: int, fee_bps: int) -> FillTerms:
    return FillTerms(
        amount=amount, paid=taker_pays(amount, sell, buy), fee=market_fee(amount, fee_bps)
    )


def display_price(quote: int, base: int, *, quote_decimals: int, base_decimals: int) -> int:
    """Quote per one base, in human units scaled by 10^PRICE_DIGITS and rounded down: for
    showing only, never for money."""
    scaled: int = quote * 10**base_decimals * 10**PRICE_DIGITS
    divisor: int = base * 10**quote_decimals
    return scaled // divisor
