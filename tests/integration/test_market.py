"""The market on a real database: escrow, fills, cancel, expiry, and races between real
connections (the invariants in tests/invariants.py run after each test, market ones included)."""

from __future__ import annotations

import asyncio
import random
from typing import Literal
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from db.database import Database
from db.models import User
from services.errors import InsufficientFunds
from services.ledger.amounts import format_amount
from services.ledger.errors import ExistsWithDifferentFields
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import AssetRegistry, apply, system_account, user_account
from services.market.config import MarketRules
from services.market.errors import (
    FillBelowMinimum,
    FillExceedsOffer,
    InvalidMinFill,
    OfferNotFound,
    OfferNotOpen,
    SameAsset,
    SelfTrade,
    TooManyOpenOffers,
)
from services.market.service import escrow_account
from services.market.tasks import expire_offers
from services.market.usecase import Market
from tests.invariants import assert_invariants
from tests.ledger_helpers import account, available, fund, make_user

FEE_BPS = 100  # 1%


def market(db: Database, **rules: int) -> Market:
    values = {"fee_bps": FEE_BPS, **rules}
    return Market(db, MarketRules(**values), AssetRegistry())


async def offer(
    m: Market,
    maker: User,
    sell: int,
    buy: int,
    *,
    min_fill: int | None = None,
    sell_asset: str = "VIBE",
    buy_asset: str = "USDT",
) -> UUID:
    out = await m.create(
        maker=maker,
        offer_id=uuid4(),
        sell_asset=sell_asset,
        sell_amount=sell,
        buy_asset=buy_asset,
        buy_amount=buy,
        min_fill=min_fill,
    )
    return out.id


async def fees_collected(db: Database, asset: str) -> int:
    async with db.service() as session:
        total = await session.scalar(
            text(
                "SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM tokens.accounts"
                " WHERE kind = 'fees' AND asset = :asset"
            ),
            {"asset": asset},
        )
    return int(total or 0)


async def new_traders(
    db: Database, maker_vibe: int = 1000, taker_usdt: int = 1000
) -> tuple[User, User]:
    maker, taker = await make_user(db), await make_user(db)
    await fund(db, maker.id, maker_vibe, "VIBE")
    await fund(db, taker.id, taker_usdt, "USDT")
    return maker, taker


async def test_an_offer_escrows_and_fills_move_both_sides_and_the_fee(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db)
    offer_id = await offer(m, maker, 1000, 300)
    assert await available(db, maker.id, "VIBE") == 0
    escrow = await account(db, escrow_account(offer_id), "VIBE")
    assert escrow["credits_pending"] == 1000

    first = await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=333)
    # ceil(333 × 300 / 1000) = ceil(99.9) = 100; the fee floor(333 × 1%) = 3.
    assert (first.paid, first.fee, first.received) == ("100", "3", "330")
    assert (first.offer_remaining, first.offer_status) == ("667", "open")
    assert await available(db, taker.id, "VIBE") == 330
    assert await available(db, taker.id, "USDT") == 900
    assert await available(db, maker.id, "USDT") == 100
    assert await available(db, maker.id, "VIBE") == 0  # the rest is still escrowed

    last = await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=667)
    # ceil(667 × 0.3) = ceil(200.1) = 201: the maker ends with 301 >= 300.
    assert (last.paid, last.fee, last.offer_status) == ("201", "6", "filled")
    assert await available(db, maker.id, "USDT") == 301
    assert await available(db, taker.id, "VIBE") == 330 + 661
    assert await fees_collected(db, "VIBE") == 9
    escrow = await account(db, escrow_account(offer_id), "VIBE")
    assert escrow["credits_pending"] == escrow["debits_pending"] == 0
    assert escrow["credits_posted"] == escrow["debits_posted"] == 1000

    [mine] = (await m.mine(maker=maker)).items
    assert (mine.status, mine.remaining, mine.received, mine.fills) == ("filled", "0", "301", 2)
    with pytest.raises(OfferNotOpen):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=1)


async def test_cancel_returns_the_unfilled_escrow(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db)
    offer_id = await offer(m, maker, 1000, 500)
    await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=400)
    cancelled = await m.cancel(maker=maker, offer_id=offer_id)
    assert (cancelled.status, cancelled.remaining) == ("cancelled", "600")
    assert await available(db, maker.id, "VIBE") == 600
    assert await available(db, maker.id, "USDT") == 200
    with pytest.raises(OfferNotOpen):
        await m.cancel(maker=maker, offer_id=offer_id)
    with pytest.raises(OfferNotOpen):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=100)
    # Another user's offer is not theirs to cancel, nor told apart from none.
    other = await offer(m, taker, 10, 10, sell_asset="USDT", buy_asset="VIBE")
    with pytest.raises(OfferNotFound):
        await m.cancel(maker=maker, offer_id=other)
    with pytest.raises(OfferNotFound):
        await m.cancel(maker=maker, offer_id=uuid4())


async def test_rules_refuse_bad_offers_and_fills_and_change_nothing(db: Database) -> None:
    m = market(db, max_open_offers=2)
    maker, taker = await new_traders(db, taker_usdt=5)
    with pytest.raises(SameAsset):
        await offer(m, maker, 10, 10, buy_asset="VIBE")
    with pytest.raises(InvalidMinFill):
        await offer(m, maker, 10, 10, min_fill=11)
    with pytest.raises(InsufficientFunds):
        await offer(m, maker, 1001, 10)
    offer_id = await offer(m, maker, 100, 100, min_fill=30)
    await offer(m, maker, 100, 100)
    with pytest.raises(TooManyOpenOffers):
        await offer(m, maker, 100, 100)
    with pytest.raises(SelfTrade):
        await m.fill(taker=maker, fill_id=uuid4(), offer_id=offer_id, amount=50)
    with pytest.raises(FillBelowMinimum):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=29)
    with pytest.raises(FillExceedsOffer):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=101)
    with pytest.raises(OfferNotFound):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=uuid4(), amount=50)
    # The taker has 5 USDT, the fill costs 30: the ledger refuses, the offer is untouched.
    with pytest.raises(InsufficientFunds):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=30)
    [still] = [o for o in (await m.mine(maker=maker)).items if o.id == offer_id]
    assert (still.remaining, still.fills) == ("100", 0)
    assert await available(db, taker.id, "USDT") == 5


async def test_min_fill_does_not_strand_the_last_remainder(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db)
    offer_id = await offer(m, maker, 100, 100, min_fill=40)
    await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=40)
    await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=40)
    # 20 left, below the minimum: the last fill may take it, and only all of it.
    with pytest.raises(FillBelowMinimum):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=10)
    last = await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=20)
    assert last.offer_status == "filled"


async def test_replays_answer_the_first_outcome_and_move_nothing_twice(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db)
    offer_id, fill_id = uuid4(), uuid4()
    fields = {"sell_asset": "VIBE", "sell_amount": 100, "buy_asset": "USDT", "buy_amount": 50}
    first = await m.create(maker=maker, offer_id=offer_id, **fields)  # type: ignore[arg-type]
    again = await m.create(maker=maker, offer_id=offer_id, **fields)  # type: ignore[arg-type]
    assert again.id == first.id and await available(db, maker.id, "VIBE") == 900
    with pytest.raises(ExistsWithDifferentFields):
        await m.create(maker=maker, offer_id=offer_id, **{**fields, "buy_amount": 51})  # type: ignore[arg-type]
    fills = await asyncio.gather(
        *(m.fill(taker=taker, fill_id=fill_id, offer_id=offer_id, amount=10) for _ in range(10))
    )
    assert {f.model_dump_json() for f in fills} == {fills[0].model_dump_json()}
    assert await available(db, taker.id, "USDT") == 995
    later = await m.fill(taker=taker, fill_id=fill_id, offer_id=offer_id, amount=10)
    assert later == fills[0]
    with pytest.raises(ExistsWithDifferentFields):
        await m.fill(taker=taker, fill_id=fill_id, offer_id=offer_id, amount=11)


async def test_the_book_lists_best_price_first_and_pages(db: Database) -> None:
    m = market(db)
    maker, other = await make_user(db), await make_user(db)
    await fund(db, maker.id, 10_000, "VIBE")
    await fund(db, other.id, 10_000, "VIBE")
    # USDT asked per VIBE: 0.5, 0.333…, 0.4, 0.333… (later), 0.6
    prices = [
        (maker, 100, 50),
        (maker, 300, 100),
        (other, 100, 40),
        (other, 600, 200),
        (other, 5, 3),
    ]
    ids = [await offer(m, who, sell, buy) for who, sell, buy in prices]
    await offer(m, maker, 10, 10, sell_asset="VIBE", buy_asset="TON")  # another book
    seen, cursor = [], None
    while True:
        page = await m.book(
            viewer=maker, sell_asset="VIBE", buy_asset="usdt", cursor=cursor, limit=2
        )
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [o.id for o in seen] == [ids[1], ids[3], ids[2], ids[0], ids[4]]
    assert [o.mine for o in seen] == [True, False, False, True, False]


async def test_expiry_returns_the_escrow_once_with_two_instances(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db, maker_vibe=10_000)
    ids = [await offer(m, maker, 100, 100) for _ in range(15)]
    await m.fill(taker=taker, fill_id=uuid4(), offer_id=ids[0], amount=30)
    async with db.service() as session:
        await session.execute(
            text(
                "UPDATE market.offers SET expires_at = now() - interval '1 second'"
                " WHERE id = ANY(:ids)"
            ),
            {"ids": ids[:10]},
        )
    with pytest.raises(OfferNotOpen):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=ids[1], amount=10)
    counts = await asyncio.gather(*(expire_offers(db, batch_size=3) for _ in range(2)))
    assert sum(counts) == 10
    assert await expire_offers(db) == 0
    assert await available(db, maker.id, "VIBE") == 10_000 - 30 - 5 * 100
    statuses = {o.id: o.status for o in (await m.mine(maker=maker, limit=100)).items}
    assert [statuses[i] for i in ids] == ["expired"] * 10 + ["open"] * 5


async def test_twenty_takers_racing_never_fill_more_than_the_offer(db: Database) -> None:
    m = market(db)
    maker = await make_user(db)
    await fund(db, maker.id, 10_000, "VIBE")
    takers = [await make_user(db) for _ in range(20)]
    for t in takers:
        await fund(db, t.id, 1_000, "USDT")
    # Several rounds: a race shows up over a few, not always in one.
    for _ in range(5):
        offer_id = await offer(m, maker, 105, 70)
        results = await asyncio.gather(
            *(m.fill(taker=t, fill_id=uuid4(), offer_id=offer_id, amount=10) for t in takers),
            return_exceptions=True,
        )
        done = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(done) == 10
        assert all(isinstance(r, FillExceedsOffer) for r in refused), refused
        assert sorted(int(f.offer_remaining) for f in done) == list(range(5, 105, 10))
        # Each 10 VIBE costs ceil(10 × 70 / 105) = ceil(6.67) = 7 USDT.
        assert {f.paid for f in done} == {"7"}
        # The last 5 go to one more taker, at ceil(5 × 2/3) = 4.
        tail = await m.fill(taker=takers[0], fill_id=uuid4(), offer_id=offer_id, amount=5)
        assert (tail.paid, tail.offer_status) == ("4", "filled")
    assert await available(db, maker.id, "USDT") == 5 * 74
    # 1% of 10 or of 5 rounds down to no fee: the takers got all 5 × 105.
    assert sum([await available(db, t.id, "VIBE") for t in takers]) == 5 * 105


async def test_a_cancel_racing_fills_leaves_the_escrow_exact(db: Database) -> None:
    m = market(db)
    maker = await make_user(db)
    await fund(db, maker.id, 100_000, "VIBE")
    takers = [await make_user(db) for _ in range(4)]
    for t in takers:
        await fund(db, t.id, 100_000, "USDT")
    outcomes = set()
    for _ in range(8):
        offer_id = await offer(m, maker, 1000, 1000)
        cancel = m.cancel(maker=maker, offer_id=offer_id)
        fills = [m.fill(taker=t, fill_id=uuid4(), offer_id=offer_id, amount=1000) for t in takers]
        results = await asyncio.gather(cancel, *fills, return_exceptions=True)
        wins = [r for r in results if not isinstance(r, BaseException)]
        # One full fill or the cancel, never both, never two fills.
        assert len(wins) == 1, results
        losses = [r for r in results if isinstance(r, BaseException)]
        assert all(isinstance(r, OfferNotOpen) for r in losses), losses
        outcomes.add(type(wins[0]).__name__)
    escrow_total = 0
    for shard_offer in (o.id for o in (await m.mine(maker=maker, limit=100)).items):
        escrow_total += (await account(db, escrow_account(shard_offer), "VIBE"))["credits_pending"]
    assert escrow_total == 0
    filled = sum(1 for o in (await m.mine(maker=maker, limit=100)).items if o.status == "filled")
    assert await available(db, maker.id, "VIBE") == 100_000 - filled * 1000
    assert await available(db, maker.id, "USDT") == filled * 1000
    # Over the rounds both the cancel and a fill won at least once (the race was real).
    assert outcomes == {"OfferOut", "FillOut"}


async def test_concurrent_offers_respect_the_open_offer_limit(db: Database) -> None:
    m = market(db, max_open_offers=3)
    maker = await make_user(db)
    await fund(db, maker.id, 1000, "VIBE")
    results = await asyncio.gather(
        *(offer(m, maker, 10, 10) for _ in range(12)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert all(isinstance(r, TooManyOpenOffers) for r in results if isinstance(r, BaseException))
    assert await available(db, maker.id, "VIBE") == 970


async def test_one_makers_offers_cancelled_at_once_each_return_their_escrow(db: Database) -> None:
    """Many holds of one maker resolved at once: each ledger call waits for the maker's
    account row that the one before changed, and must still find it."""
    m = market(db, max_open_offers=100)
    maker = await make_user(db)
    await fund(db, maker.id, 10_000, "VIBE")
    for _ in range(3):
        ids = [await offer(m, maker, 100, 100) for _ in range(20)]
        await asyncio.gather(*(m.cancel(maker=maker, offer_id=i) for i in ids))
        assert await available(db, maker.id, "VIBE") == 10_000


async def test_random_fill_sizes_pay_the_maker_at_least_the_ratio_in_the_ledger(
    db: Database,
) -> None:
    """The rounding property on the real ledger: awkward ratios, fill sizes drawn at random
    (seeded), every offer filled to the end; the invariants check zero sum and the escrow."""
    rng = random.Random(14)
    m = market(db, fee_bps=37, max_open_offers=100)
    maker, taker = await new_traders(db, maker_vibe=10**12, taker_usdt=10**12)
    for sell, buy in [(997, 13), (7, 1000003), (10**9 + 7, 3), (3, 3), (1, 10**9)]:
        offer_id = await offer(m, maker, sell, buy)
        before = await available(db, maker.id, "USDT")
        left = sell
        while left:
            size = rng.randint(1, left)
            left = int(
                (
                    await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=size)
                ).offer_remaining
            )
        got = await available(db, maker.id, "USDT") - before
        assert got >= buy


async def test_a_replayed_fill_answers_its_fill_even_when_the_taker_could_not_pay_again(
    db: Database,
) -> None:
    m = market(db)
    maker, taker = await new_traders(db, taker_usdt=60)
    offer_id, fill_id = await offer(m, maker, 1000, 1000), uuid4()
    first = await m.fill(taker=taker, fill_id=fill_id, offer_id=offer_id, amount=50)
    assert await available(db, taker.id, "USDT") == 10
    # The offer is still open and the taker cannot pay 50 again: still the first answer.
    assert await m.fill(taker=taker, fill_id=fill_id, offer_id=offer_id, amount=50) == first
    assert await available(db, taker.id, "USDT") == 10


async def test_a_fill_publishes_trade_events_and_notifies_the_maker_in_its_transaction(
    db: Database,
) -> None:
    m = market(db)
    maker, taker = await new_traders(db, taker_usdt=40)
    offer_id = await offer(m, maker, 1000, 300)
    # A refused fill leaves no event and no notice: they are in its rolled-back transaction.
    with pytest.raises(InsufficientFunds):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=1000)
    fill = await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=100)
    async with db.service() as session:
        events = (
            await session.execute(
                text("SELECT user_id, data FROM ops.events WHERE type = 'trade' ORDER BY id")
            )
        ).all()
        notices = (
            await session.execute(
                text(
                    "SELECT user_id, template, params FROM ops.outbox WHERE template LIKE 'market%'"
                )
            )
        ).all()
    assert [(e.user_id, e.data["side"], e.data["fill_id"]) for e in events] == [
        (maker.id, "maker", str(fill.id)),
        (taker.id, "taker", str(fill.id)),
    ]
    [notice] = notices
    assert (notice.user_id, notice.template) == (maker.id, "market.filled_notice")
    assert notice.params["paid"] == format_amount(30, 6)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sell=st.integers(min_value=1, max_value=10**15),
    buy=st.integers(min_value=1, max_value=10**15 - 100),
    cuts=st.lists(st.integers(min_value=1, max_value=10**15), max_size=5),
    fee_bps=st.integers(min_value=0, max_value=9_999),
)
async def test_any_amounts_in_the_ledger_pay_the_maker_at_least_the_ratio_and_sum_to_zero(
    db: Database, owner_url: str, sell: int, buy: int, cuts: list[int], fee_bps: int
) -> None:
    """Hypothesis against the real ledger: any offer, any fill sizes (each cut taken modulo
    what is left, then the rest), any fee; the invariants are checked after every example."""
    m = market(db, fee_bps=fee_bps)
    maker, taker = await make_user(db), await make_user(db)
    await fund(db, maker.id, sell, "VIBE")
    await fund(db, taker.id, buy + len(cuts) + 1, "USDT")
    offer_id = await offer(m, maker, sell, buy)
    left, fees = sell, 0
    for size in [*(cut % left + 1 for cut in cuts), sell]:
        if left == 0:
            break
        fill = await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=min(size, left))
        left, fees = int(fill.offer_remaining), fees + int(fill.fee)
    paid = await available(db, maker.id, "USDT")
    assert buy <= paid <= buy + len(cuts) + 1
    assert await available(db, taker.id, "VIBE") == sell - fees
    assert await available(db, taker.id, "USDT") == buy + len(cuts) + 1 - paid
    await assert_invariants(owner_url)


async def test_the_ledger_resolves_many_holds_of_one_account_at_once(db: Database) -> None:
    """The ledger alone (migration 0014's fix): holds of one account, voided and posted by
    concurrent calls. Each call waits for the account row the one before changed; locking it
    through a semi-join lost the row on the recheck and the call failed with a 500."""
    ann = await make_user(db)
    await fund(db, ann.id, 1000)
    holds = [
        Transfer(
            id=uuid4(),
            debit=user_account(ann.id),
            credit=system_account("escrow"),
            asset="VIBE",
            amount=10,
            code="test_hold",
            kind="pending",
        )
        for _ in range(20)
    ]
    async with db.service() as session:
        await apply(session, holds)

    async def resolve(n: int, hold: Transfer) -> None:
        kind: Literal["post", "void"] = "post" if n % 2 else "void"
        async with db.service() as session:
            await apply(session, [ResolveHold(id=uuid4(), pending_id=hold.id, kind=kind)])

    await asyncio.gather(*(resolve(n, h) for n, h in enumerate(holds)))
    assert await available(db, ann.id) == 1000 - 10 * 10
