"""Bans and the market on a real database: a banned maker's offers cannot be filled and are
closed with their escrow returned, a banned taker cannot fill, and a ban racing fills leaves
the offer and the ledger exact (the invariants run after each test)."""

from __future__ import annotations

import asyncio
import random
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from db.database import Database
from db.models import User
from services.market.errors import MakerBanned
from services.market.schemas import FillOut
from services.market.service import escrow_account
from services.market.tasks import expire_offers
from services.users.bans import ban
from services.users.errors import UserBanned
from services.users.service import set_banned
from tests.integration.test_market import market, new_traders, offer
from tests.ledger_helpers import account, available, fund, make_user


async def _status(db: Database, offer_id: object) -> tuple[str, int]:
    async with db.service() as session:
        row = (
            await session.execute(
                text("SELECT status, remaining FROM market.offers WHERE id = :id"),
                {"id": offer_id},
            )
        ).one()
    return row.status, int(row.remaining)


async def test_a_banned_makers_offer_is_refused_then_closed_by_the_job(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db)
    offer_id = await offer(m, maker, 1000, 300)
    await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=100)
    # The flag alone, as a ban made some other way would leave it: the offer is still open.
    async with db.service() as session:
        await set_banned(session, maker.id, True)
    with pytest.raises(MakerBanned) as refused:
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=100)
    assert refused.value.code == "offer_maker_banned"
    assert await available(db, taker.id, "USDT") == 970
    assert await _status(db, offer_id) == ("open", 900)
    # The expiry job also closes banned makers' offers, once.
    assert await expire_offers(db) == 0
    assert await _status(db, offer_id) == ("cancelled", 900)
    assert await available(db, maker.id, "VIBE") == 900
    assert (await account(db, escrow_account(offer_id), "VIBE"))["credits_pending"] == 0
    await expire_offers(db)
    assert await available(db, maker.id, "VIBE") == 900
    with pytest.raises(MakerBanned):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=100)


async def test_a_ban_closes_the_makers_open_offers_in_its_transaction(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db, maker_vibe=5000)
    ids = [await offer(m, maker, 1000, 1000) for _ in range(4)]
    await m.fill(taker=taker, fill_id=uuid4(), offer_id=ids[0], amount=250)
    await m.cancel(maker=maker, offer_id=ids[3])
    async with db.service() as session:
        assert await ban(session, maker.id) == 3
    assert [await _status(db, i) for i in ids] == [
        ("cancelled", 750),
        ("cancelled", 1000),
        ("cancelled", 1000),
        ("cancelled", 1000),
    ]
    assert await available(db, maker.id, "VIBE") == 5000 - 250
    async with db.service() as session:
        assert await ban(session, maker.id) == 0  # idempotent
    assert await available(db, maker.id, "VIBE") == 5000 - 250


async def test_a_banned_taker_cannot_fill(db: Database) -> None:
    m = market(db)
    maker, taker = await new_traders(db)
    offer_id = await offer(m, maker, 1000, 300)
    async with db.service() as session:
        await ban(session, taker.id)
    # `taker` is the object the door resolved before the ban: the fill's SQL still refuses.
    with pytest.raises(UserBanned):
        await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=100)
    assert await _status(db, offer_id) == ("open", 1000)
    assert await available(db, taker.id, "USDT") == 1000


async def test_a_ban_racing_fills_leaves_the_offer_and_escrow_exact(db: Database) -> None:
    m = market(db)
    maker = await make_user(db)
    await fund(db, maker.id, 100_000, "VIBE")
    takers = [await make_user(db) for _ in range(12)]
    for t in takers:
        await fund(db, t.id, 100_000, "USDT")
    outcomes: set[str] = set()
    sold = 0
    for _ in range(6):
        offer_id = await offer(m, maker, 1000, 500)

        async def banning() -> int:
            await asyncio.sleep(random.uniform(0, 0.02))
            async with db.service() as session:
                return await ban(session, maker.id)

        async def filling(taker: User, offer_id: UUID) -> FillOut:
            await asyncio.sleep(random.uniform(0, 0.02))
            return await m.fill(taker=taker, fill_id=uuid4(), offer_id=offer_id, amount=50)

        results = await asyncio.gather(
            banning(), *(filling(t, offer_id) for t in takers), return_exceptions=True
        )
        assert results[0] == 1, results[0]  # the ban closed the offer, whatever it waited for
        fills = [r for r in results[1:] if not isinstance(r, BaseException)]
        refused = [r for r in results[1:] if isinstance(r, BaseException)]
        assert all(isinstance(r, MakerBanned) for r in refused), refused
        status, remaining = await _status(db, offer_id)
        # Every fill that went through is in the offer; nothing after the ban.
        assert (status, remaining) == ("cancelled", 1000 - 50 * len(fills))
        assert (await account(db, escrow_account(offer_id), "VIBE"))["credits_pending"] == 0
        sold += 50 * len(fills)
        if fills and refused:
            outcomes.add("between")  # the ban landed among the fills
        elif refused:
            outcomes.add("before")
        async with db.service() as session:  # unban for the next round
            await set_banned(session, maker.id, False)
    assert await available(db, maker.id, "VIBE") == 100_000 - sold
    assert await available(db, maker.id, "USDT") == sold // 2
    # Over the rounds the ban landed among the fills at least once (the race was real).
    assert "between" in outcomes, outcomes
