"""Redis wake-ups (`REDIS_URL`): a ledger batch's events reach the listeners of every instance
at once rather than at their next poll, and without Redis the poll still delivers them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from db.database import Database
from db.urls import app_url_from_owner, asyncpg_dsn
from services.ledger.schemas import Asset
from services.realtime.hub import EventHub
from services.realtime.listener import EventListener
from services.realtime.wakeups import RedisWakeups
from services.transfers.batcher import SendBatcher
from services.transfers.config import P2PRules
from tests.ledger_helpers import fund, make_user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VIBE = Asset(code="VIBE", name="Good Vibe token", decimals=6, transferable=True)
# Far longer than the waits below: an event that arrives came by its wake-up, not a poll.
NO_POLL = 60.0
WITHIN = 5.0


def _redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _redis_reachable(), reason=f"no Redis at {REDIS_URL} (TEST_REDIS_URL)"
)


@contextlib.asynccontextmanager
async def instance(owner_url: str, wakeups: RedisWakeups) -> AsyncIterator[EventHub]:
    """One process's listener, polling once a minute, woken by Redis."""
    hub = EventHub(max_per_user=5, max_pending=100)
    listener = EventListener(
        asyncpg_dsn(app_url_from_owner(owner_url)),
        hub,
        server_settings={"role": "gv_service", "application_name": "rt-wakeup-test"},
        poll_seconds=NO_POLL,
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(listener.run(stop)),
        asyncio.create_task(wakeups.relay(listener.wake, stop)),
    ]
    try:
        async with asyncio.timeout(WITHIN):
            await listener.connected.wait()
        yield hub
    finally:
        stop.set()
        async with asyncio.timeout(WITHIN):
            await asyncio.gather(*tasks)
        await wakeups.close()


async def test_a_batch_commit_wakes_the_listeners_of_every_instance(
    db: Database, owner_url: str
) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 10_000_000)
    sender_side = RedisWakeups(REDIS_URL)
    async with (
        instance(owner_url, RedisWakeups(REDIS_URL)) as first,
        instance(owner_url, RedisWakeups(REDIS_URL)) as second,
    ):
        watching = [first.subscribe(bob.id), second.subscribe(bob.id)]
        for subscriber in watching:
            subscriber.release()
        await asyncio.sleep(0.2)  # both subscriptions are live before the commit
        batcher = SendBatcher(db, P2PRules(fee_bps=0), workers=1, on_commit=sender_side.announce)
        try:
            await batcher.send(
                sender=ann, recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
            )
        finally:
            await batcher.close()
        for subscriber in watching:
            async with asyncio.timeout(WITHIN):
                event = await subscriber.queue.get()
            assert getattr(event, "type", None) in {"transfer", "balance"}
    assert sender_side.published == 1
    await sender_side.close()


async def test_an_unreachable_redis_costs_nothing_but_the_wake_up(
    db: Database, owner_url: str
) -> None:
    """Nothing listens on port 1: the send still succeeds, at once, and says so once."""
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 10_000_000)
    dead = RedisWakeups("redis://127.0.0.1:1/0")
    batcher = SendBatcher(db, P2PRules(fee_bps=0), workers=1, on_commit=dead.announce)
    try:
        receipt = await batcher.send(
            sender=ann, recipient=bob, asset=VIBE, amount=1_000_000, transfer_id=uuid4()
        )
    finally:
        await batcher.close()
    assert receipt.amount == 1_000_000
    await asyncio.sleep(0.5)
    assert dead.published == 0
    await dead.close()
