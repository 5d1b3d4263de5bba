"""Concurrent sends coalesced into one statement: each send keeps its own outcome."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import text

from db.database import Database
from db.urls import asyncpg_dsn
from services.errors import InsufficientFunds
from services.ledger.schemas import Asset
from services.transfers.batcher import SendBatcher
from services.transfers.config import P2PRules
from services.transfers.service import Receipt
from tests.ledger_helpers import available, fund, make_user

VIBE = Asset(code="VIBE", name="Good Vibe token", decimals=6, transferable=True)


async def test_concurrent_sends_share_statements_and_keep_their_outcomes(db: Database) -> None:
    users = [await make_user(db, f"user{n}") for n in range(10)]
    for user in users[:9]:
        await fund(db, user.id, 100_000_000)
    batcher = SendBatcher(db, P2PRules(fee_bps=100), workers=2)
    broke, hot = users[9], users[0]
    try:
        sends = [
            batcher.send(sender=u, recipient=hot, asset=VIBE, amount=1_000_000, transfer_id=uuid4())
            for u in users[1:9] * 5
        ]
        sends.append(
            batcher.send(
                sender=broke, recipient=hot, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
            )
        )
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
    finally:
        await batcher.close()
    receipts = [o for o in outcomes if isinstance(o, Receipt)]
    assert len(receipts) == 40 and all(r.fee == 10_000 for r in receipts)
    assert isinstance(outcomes[-1], InsufficientFunds)
    assert await available(db, hot.id) == 100_000_000 + 40_000_000
    assert await available(db, users[1].id) == 100_000_000 - 5 * 1_010_000
    async with db.service() as session:
        notices = await session.scalar(
            text("SELECT count(*) FROM ops.outbox WHERE template = 'send.received'")
        )
    assert notices == 40


async def test_replays_in_flight_move_once(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100_000_000)
    batcher = SendBatcher(db, P2PRules(fee_bps=0), workers=1)
    same = uuid4()
    try:
        receipts = await asyncio.gather(
            *(
                batcher.send(
                    sender=ann, recipient=bob, asset=VIBE, amount=2_000_000, transfer_id=same
                )
                for _ in range(5)
            )
        )
        with pytest.raises(InsufficientFunds):
            await batcher.send(
                sender=bob, recipient=ann, asset=VIBE, amount=3_000_000, transfer_id=uuid4()
            )
    finally:
        await batcher.close()
    assert sorted(r.replayed for r in receipts) == [False, True, True, True, True]
    assert await available(db, bob.id) == 2_000_000


async def test_a_caller_that_gives_up_does_not_stop_the_batcher(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100_000_000)
    batcher = SendBatcher(db, P2PRules(fee_bps=0))
    try:
        impatient = asyncio.ensure_future(
            batcher.send(
                sender=ann, recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
            )
        )
        await asyncio.sleep(0)
        impatient.cancel()
        receipt = await batcher.send(
            sender=ann, recipient=bob, asset=VIBE, amount=2_000_000, transfer_id=uuid4()
        )
    finally:
        await batcher.close()
    assert receipt.amount == 2_000_000
    assert await available(db, bob.id) in (2_000_000, 3_000_000)


async def test_a_lost_connection_is_replaced_and_the_send_goes_through(
    db: Database, owner_url: str
) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100_000_000)
    batcher = SendBatcher(db, P2PRules(fee_bps=0), workers=1)
    try:
        await batcher.send(
            sender=ann, recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
        )
        # The worker keeps its connection between batches: kill it, as a restart or a
        # network cut would.
        owner = await asyncpg.connect(asyncpg_dsn(owner_url))
        try:
            killed = await owner.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE '%create_transfers($1::jsonb, false)%'"
            )
        finally:
            await owner.close()
        assert killed >= 1
        receipt = await batcher.send(
            sender=ann, recipient=bob, asset=VIBE, amount=2_000_000, transfer_id=uuid4()
        )
    finally:
        await batcher.close()
    assert not receipt.replayed
    assert await available(db, bob.id) == 3_000_000


async def test_a_replay_in_another_position_of_a_batch_is_a_replay(db: Database) -> None:
    users = [await make_user(db, f"user{n}") for n in range(4)]
    for user in users:
        await fund(db, user.id, 100_000_000)
    ann, bob = users[0], users[1]
    batcher = SendBatcher(db, P2PRules(fee_bps=100), workers=1)
    same = uuid4()
    try:
        first = await batcher.send(
            sender=ann, recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=same
        )
        # The replay now rides behind other sends: the third group of its batch, not the first.
        outcomes = await asyncio.gather(
            batcher.send(
                sender=users[2], recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
            ),
            batcher.send(
                sender=users[3], recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
            ),
            batcher.send(sender=ann, recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=same),
        )
    finally:
        await batcher.close()
    assert not first.replayed
    assert [o.replayed for o in outcomes] == [False, False, True]
    assert await available(db, bob.id) == 100_000_000 + 3_000_000
