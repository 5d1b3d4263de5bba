"""Stars payments credited together (`tokens.credit_purchases`, `PurchaseBatcher`): many at once
from two instances pay each once; a payment the ledger refuses, or one that fails the whole
statement, is answered alone and never costs another payment its credit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from db.database import Database, create_database
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from services.ledger.errors import ValidationError
from services.purchases.batcher import PurchaseBatcher
from services.purchases.errors import InvalidInvoice
from services.purchases.packs import Pack
from services.purchases.schemas import InvoiceTerms
from services.purchases.service import (
    SALES_SHARDS,
    Credit,
    Payment,
    PurchaseConfig,
    credit_payments,
    shard_of,
)
from services.purchases.usecase import Purchases
from services.users.service import get_user
from tests.services import purchases_of

VIBE = 10**6
SMALL = Pack("stars_50", 50, 100 * VIBE)
BIG = Pack("stars_1000", 1000, 2400 * VIBE)
# L1..L8 of 100 VIBE at the default rates.
REWARDS = [10, 5, 3, 2, 1, 1, 0.5, 0.5]


@pytest.fixture
async def owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    yield conn
    await conn.close()


async def chains(owner: asyncpg.Connection, count: int) -> list[list[UUID]]:
    """`count` chains of 10 users, top first, bound as `/start ref_…` binds them (links and
    referee counts; the binding itself is tested in test_purchases_referrals)."""
    result = []
    for c in range(count):
        ids = []
        for depth in range(10):
            telegram_id = 7_000_000 + c * 100 + depth
            ids.append(
                await owner.fetchval(
                    "INSERT INTO auth.users (telegram_id, first_name, referral_code)"
                    " VALUES ($1::bigint, 'U', 'c' || $1::bigint) RETURNING id",
                    telegram_id,
                )
            )
        for child in range(1, 10):
            for depth in range(1, min(child, 8) + 1):
                await owner.execute(
                    "INSERT INTO referrals.links (descendant_id, depth, ancestor_id)"
                    " VALUES ($1, $2, $3)",
                    ids[child],
                    depth,
                    ids[child - depth],
                )
        result.append(ids)
    await owner.execute(
        "INSERT INTO referrals.totals (referrer_id, level, referees)"
        " SELECT ancestor_id, depth, count(*) FROM referrals.links GROUP BY 1, 2"
    )
    return result


async def available(owner: asyncpg.Connection, user_id: UUID) -> tuple[int, int]:
    row = await owner.fetchrow(
        "SELECT credits_posted - debits_posted AS posted, credits_pending AS pending"
        " FROM tokens.accounts WHERE user_id = $1 AND asset = 'VIBE'",
        user_id,
    )
    return (int(row["posted"]), int(row["pending"])) if row else (0, 0)


async def test_payments_racing_on_two_instances_are_each_credited_once_with_every_reward(
    db: Database, owner_url: str, owner: asyncpg.Connection
) -> None:
    bought = await chains(owner, 4)
    other = create_database(app_url_from_owner(owner_url), pool_size=10)
    try:
        one, two = purchases_of(db), purchases_of(other)
        async with db.service() as session:
            buyers = [await get_user(session, ids[-1]) for ids in bought]
        # 48 payments, every one delivered to both instances at once, in shuffled order.
        payments = [(buyers[k % 4], f"charge-{k}") for k in range(48)]

        async def deliver(sales: Purchases, k: int) -> Credit:
            buyer, charge = payments[k]
            return await sales.credit(
                buyer,
                charge_id=charge,
                payload=InvoiceTerms.of(SMALL, buyer.telegram_id).payload(),
                currency="XTR",
                total=SMALL.stars,
            )

        credits = await asyncio.gather(
            *(deliver(one, k) for k in range(48)), *(deliver(two, k) for k in reversed(range(48)))
        )
    finally:
        await other.dispose()
    fresh = [c for c in credits if not c.replayed]
    assert len(fresh) == 48 and len({c.purchase_id for c in fresh}) == 48
    assert {c.purchase_id for c in credits} == {c.purchase_id for c in fresh}
    assert all(c.rewards == 8 for c in fresh)
    assert one.batcher.batched + two.batcher.batched > 0  # they did share statements
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == 48
    assert await owner.fetchval("SELECT count(*) FROM referrals.rewards") == 48 * 8
    for ids in bought:
        assert await available(owner, ids[-1]) == (12 * 100 * VIBE, 0)
        for level in range(1, 9):
            expected = int(12 * REWARDS[level - 1] * VIBE)
            assert await available(owner, ids[-1 - level]) == (0, expected), level
            pending = await owner.fetchval(
                "SELECT pending FROM referrals.totals WHERE referrer_id = $1 AND level = $2",
                ids[-1 - level],
                level,
            )
            assert pending == expected
        assert await available(owner, ids[0]) == (0, 0)  # level 9: nothing


async def test_a_payment_the_ledger_refuses_is_answered_alone_and_keeps_nothing(
    db: Database, owner: asyncpg.Connection
) -> None:
    [ids] = await chains(owner, 1)
    async with db.service() as session:
        buyer = await get_user(session, ids[-1])
    # One transfer may credit at most 1,000 VIBE to a holder: the big pack is refused.
    await owner.execute("UPDATE tokens.assets SET max_amount = $1 WHERE code = 'VIBE'", 1000 * VIBE)
    sales = purchases_of(db)
    batch = [
        Payment(buyer.id, buyer.telegram_id, charge, InvoiceTerms.of(pack, buyer.telegram_id))
        for charge, pack in (("small-1", SMALL), ("big", BIG), ("small-2", SMALL))
    ]
    async with db.statement() as conn:
        answers = await credit_payments(conn, sales.config, batch)
    assert [a["result"] for a in answers] == ["ok", "amount_too_large", "ok"]
    assert await owner.fetchval(
        "SELECT array_agg(charge_id ORDER BY charge_id) FROM tokens.purchases"
    ) == [
        "small-1",
        "small-2",
    ]
    assert await owner.fetchval("SELECT count(*) FROM referrals.rewards") == 16
    assert (
        await owner.fetchval("SELECT count(*) FROM referrals.rewards WHERE source = 'stars:big'")
        == 0
    )
    assert await available(owner, buyer.id) == (200 * VIBE, 0)
    assert await available(owner, ids[-2]) == (0, 20 * VIBE)
    assert (
        await owner.fetchval(
            "SELECT pending FROM referrals.totals WHERE referrer_id = $1 AND level = 1", ids[-2]
        )
        == 20 * VIBE
    )
    # Through the use case: the ledger's error, and a retry of the same charge is refused again.
    with pytest.raises(ValidationError) as refused:
        await sales.credit(
            buyer,
            charge_id="big",
            payload=InvoiceTerms.of(BIG, buyer.telegram_id).payload(),
            currency="XTR",
            total=BIG.stars,
        )
    assert refused.value.code == "amount_too_large"
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == 2


async def test_a_payment_that_fails_the_statement_costs_the_others_nothing(
    db: Database, owner: asyncpg.Connection
) -> None:
    bought = await chains(owner, 2)
    async with db.service() as session:
        buyers = [await get_user(session, ids[-1]) for ids in bought]
    sales = purchases_of(db)
    batcher = PurchaseBatcher(db, sales.config, workers=1)
    good = [
        Payment(
            b.id, b.telegram_id, f"good-{k}-{b.telegram_id}", InvoiceTerms.of(SMALL, b.telegram_id)
        )
        for k in range(5)
        for b in buyers
    ]
    # A buyer the database does not know (deleted in between, say): its row breaks the insert.
    ghost = Payment(uuid4(), 99, "ghost", InvoiceTerms.of(SMALL, 99))
    results = await asyncio.gather(
        *(batcher.credit(p) for p in [*good[:5], ghost, *good[5:]]), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], asyncpg.ForeignKeyViolationError)
    assert results[5] is failures[0]
    assert all(isinstance(r, Credit) and not r.replayed for r in results[:5] + results[6:])
    assert batcher.batched + batcher.alone == 10 and batcher.batched > 0
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == 10
    for ids in bought:
        assert await available(owner, ids[-1]) == (5 * 100 * VIBE, 0)


async def test_a_payment_that_is_not_ours_never_reaches_the_database(
    db: Database, owner: asyncpg.Connection
) -> None:
    user_id = await owner.fetchval(
        "INSERT INTO auth.users (telegram_id, first_name, referral_code)"
        " VALUES (7999999, 'U', 'c7999999') RETURNING id"
    )
    async with db.service() as session:
        buyer = await get_user(session, user_id)
    sales = purchases_of(db)
    for charge, payload, total in (
        ("c1", "p1:stars_50:0:0:7999999", 0),  # nothing sold for nothing
        ("c\x00", InvoiceTerms.of(SMALL, 7999999).payload(), 50),  # no charge id has a NUL
        ("c" * 256, InvoiceTerms.of(SMALL, 7999999).payload(), 50),
        ("c2", InvoiceTerms.of(SMALL, 7999999).payload(), 49),
    ):
        with pytest.raises(InvalidInvoice):
            await sales.credit(
                buyer, charge_id=charge, payload=payload, currency="XTR", total=total
            )
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == 0


class _Watched(PurchaseBatcher):
    """Records the shards of the statements running at once."""

    def __init__(self, db: Database, config: PurchaseConfig) -> None:
        super().__init__(db, config, workers=2)
        self.running: list[set[int]] = []
        self.shared: list[set[int]] = []
        self.peak = 0

    async def _execute(self, payments: list[Payment]) -> list[dict[str, Any]]:
        mine = {shard_of(p) for p in payments}
        self.shared += [mine & other for other in self.running if mine & other]
        self.running.append(mine)
        self.peak = max(self.peak, len(self.running))
        try:
            return await super()._execute(payments)
        finally:
            self.running.remove(mine)


async def test_statements_running_at_once_never_share_a_shard_account(
    db: Database, owner: asyncpg.Connection
) -> None:
    """Two statements that shared a sales or rewards shard would queue on its row until the
    first commits; the batcher keeps such a payment for the next statement instead."""
    bought = await chains(owner, 8)
    async with db.service() as session:
        buyers = [await get_user(session, ids[-1]) for ids in bought]
    # Telegram ids 100 apart: chains c and c + 4 share a shard, four shards in all.
    assert len({b.telegram_id % SALES_SHARDS for b in buyers}) == 4
    sales = purchases_of(db)
    batcher = _Watched(db, sales.config)

    def payment(buyer: User, charge: str) -> Payment:
        return Payment(
            buyer.id, buyer.telegram_id, charge, InvoiceTerms.of(SMALL, buyer.telegram_id)
        )

    # First the two halves of the shards in order, then 40 in a mixed order.
    first = [payment(buyers[c], f"first-{c}") for c in (0, 1, 4, 5, 2, 3, 6, 7)]
    mixed = [payment(buyers[(k * 3) % 8], f"mixed-{k}") for k in range(40)]
    credits = [
        *await asyncio.gather(*(batcher.credit(p) for p in first)),
        *await asyncio.gather(*(batcher.credit(p) for p in mixed)),
    ]
    assert batcher.shared == [] and batcher.peak == 2
    assert all(not c.replayed and c.rewards == 8 for c in credits)
    assert await owner.fetchval("SELECT count(*) FROM referrals.rewards") == 48 * 8
    for c, ids in enumerate(bought):
        purchases = 1 + sum(1 for k in range(40) if (k * 3) % 8 == c)
        assert await available(owner, ids[-1]) == (purchases * 100 * VIBE, 0)
