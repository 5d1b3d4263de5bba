"""Properties of the market's rounding, for any amounts (hypothesis): the taker never pays
less than the ratio, the maker always gets at least it, and every fill's legs sum to zero per
asset and leave nothing in the escrow."""

from __future__ import annotations

from collections import Counter
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.schemas import Asset, ResolveHold, Transfer
from services.ledger.service import user_account
from services.market.pricing import BPS, fill_terms, market_fee, price_key, taker_pays
from services.market.service import _fill_legs, escrow_account, hold_id

MAX = 10**39 - 1
amounts = st.integers(min_value=1, max_value=MAX)
fees = st.integers(min_value=0, max_value=BPS - 1)
SELL = Asset("VIBE", "Good Vibe token", 6, True)
BUY = Asset("USDT", "Tether", 6, True)


@st.composite
def offer_and_fill(draw: st.DrawFn) -> tuple[int, int, int]:
    sell, buy = draw(amounts), draw(amounts)
    return sell, buy, draw(st.integers(min_value=1, max_value=sell))


@given(offer_and_fill())
def test_the_taker_pays_exactly_the_ratio_rounded_up(case: tuple[int, int, int]) -> None:
    sell, buy, amount = case
    paid = taker_pays(amount, sell, buy)
    assert paid * sell >= amount * buy > (paid - 1) * sell
    assert 1 <= paid <= buy


@st.composite
def fill_sequences(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """An offer and fills that take all of it, in any sizes."""
    sell = draw(st.integers(min_value=1, max_value=10**24))
    buy = draw(st.integers(min_value=1, max_value=10**24))
    left, sizes = sell, []
    while left > 0 and len(sizes) < 30:
        size = draw(st.integers(min_value=1, max_value=left))
        sizes.append(size)
        left -= size
    if left:
        sizes.append(left)
    return sell, buy, sizes


@given(fill_sequences(), fees)
def test_the_maker_gets_at_least_the_ratio_whatever_the_fill_sizes(
    case: tuple[int, int, list[int]], fee_bps: int
) -> None:
    sell, buy, sizes = case
    paid = [fill_terms(size, sell=sell, buy=buy, fee_bps=fee_bps).paid for size in sizes]
    assert sum(sizes) == sell
    # At least what was asked, and each fill rounds up by less than one unit.
    assert buy <= sum(paid) < buy + len(sizes)


@given(offer_and_fill(), fees)
def test_the_fee_comes_out_of_what_the_taker_receives(
    case: tuple[int, int, int], fee_bps: int
) -> None:
    sell, buy, amount = case
    terms = fill_terms(amount, sell=sell, buy=buy, fee_bps=fee_bps)
    assert terms.fee == market_fee(amount, fee_bps)
    assert 0 <= terms.fee < amount and terms.fee * BPS <= amount * fee_bps
    assert terms.received + terms.fee == amount and terms.received > 0


def _net(
    legs: list[Transfer | ResolveHold], hold: tuple[UUID, str, str, str, int]
) -> Counter[tuple[str, str]]:
    """Posted movement per (account, asset), as the ledger applies the batch."""
    held_id, debit, credit, asset, _ = hold
    net: Counter[tuple[str, str]] = Counter()
    for leg in legs:
        if isinstance(leg, ResolveHold):
            assert leg.pending_id == held_id and leg.kind == "post" and leg.amount is not None
            net[(debit, asset)] -= leg.amount
            net[(credit, asset)] += leg.amount
        elif leg.kind == "single":
            net[(leg.debit, leg.asset)] -= leg.amount
            net[(leg.credit, leg.asset)] += leg.amount
    return net


@settings(max_examples=300)
@given(offer_and_fill(), fees, st.integers(min_value=1, max_value=1000))
def test_a_fills_legs_sum_to_zero_per_asset_and_re_hold_exactly_the_rest(
    case: tuple[int, int, int], fee_bps: int, seq: int
) -> None:
    sell, buy, amount = case
    offer_id, fill_id, maker, taker = uuid4(), uuid4(), uuid4(), uuid4()
    remaining_before = amount + (sell - amount) // 2  # some earlier fills took the rest
    remaining = remaining_before - amount
    terms = fill_terms(amount, sell=sell, buy=buy, fee_bps=fee_bps)
    legs = _fill_legs(offer_id, maker, taker, fill_id, seq, SELL, BUY, terms, remaining)
    escrow = escrow_account(offer_id)
    hold = (hold_id(offer_id, seq - 1), user_account(maker), escrow, SELL.code, remaining_before)
    net = _net(legs, hold)
    for asset in (SELL.code, BUY.code):
        assert sum(v for (_, a), v in net.items() if a == asset) == 0
    assert net[(escrow, SELL.code)] == 0
    assert net[(user_account(maker), SELL.code)] == -amount
    assert net[(user_account(taker), SELL.code)] == terms.received
    assert net[(user_account(taker), BUY.code)] == -terms.paid
    assert net[(user_account(maker), BUY.code)] == terms.paid
    rehold = [leg for leg in legs if isinstance(leg, Transfer) and leg.kind == "pending"]
    if remaining:
        [new] = rehold
        assert (new.id, new.amount, new.credit) == (hold_id(offer_id, seq), remaining, escrow)
    else:
        assert rehold == []
    # Every id in the batch is its own, derived from (offer, seq).
    assert len({leg.id for leg in legs}) == len(legs)


@given(amounts, amounts, amounts, amounts)
def test_the_books_key_orders_prices_exactly(s1: int, b1: int, s2: int, b2: int) -> None:
    k1, k2 = price_key(s1, b1), price_key(s2, b2)
    exact = (b1 * s2 > b2 * s1) - (b1 * s2 < b2 * s1)
    assert (k1 > k2) - (k1 < k2) == exact
