"""API transfers waiting for their batch hold no pooled connection: in-flight requests are not
capped by the pool size."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from db.database import create_database
from db.urls import app_url_from_owner, asyncpg_dsn
from services.i18n import Catalog
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig, P2PRules
from tests.api import tma, web_user
from tests.invariants import assert_invariants
from tests.services import make_services, root_app

POOL = 2
WORKERS = 2
SENDERS = 40


async def test_transfers_waiting_in_the_batcher_hold_no_connection(
    owner_url: str, catalog: Catalog
) -> None:
    # Each pool: 2 connections plus 2 of overflow; 40 requests wait at once all the same.
    db = create_database(app_url_from_owner(owner_url), pool_size=POOL)
    rules = P2PRules(fee_bps=0, daily_limit="0")
    batcher = SendBatcher(db, rules, workers=WORKERS)
    context = make_services(
        db, catalog, ledger=LedgerConfig(welcome_bonus=20_000_000, p2p=rules), sender=batcher
    )
    senders = [web_user(6000 + n, f"S{n}") for n in range(SENDERS)]
    bob = web_user(5999, "Bob", username="bob")
    try:
        async with TestClient(TestServer(root_app(context))) as client:
            for person in (bob, *senders):  # first contact: the user and the welcome bonus
                response = await client.get("/api/v1/balances", headers=tma(person))
                assert response.status == 200

            async def post(n: int) -> Any:
                headers = tma(senders[n]) | {"Idempotency-Key": f"pool-{n}"}
                body = {"recipient": "@bob", "amount": "1000000"}
                return await client.post("/api/v1/transfers", json=body, headers=headers)

            owner = await asyncpg.connect(asyncpg_dsn(owner_url))
            try:
                # Bob's account locked: every batch waits on it, so every request waits.
                blocker = owner.transaction()
                await blocker.start()
                await owner.execute(
                    "SELECT 1 FROM tokens.accounts a JOIN auth.users u"
                    " ON a.address = 'user:' || u.id WHERE u.telegram_id = 5999 FOR UPDATE"
                )
                requests = [asyncio.create_task(post(n)) for n in range(SENDERS)]
                async with asyncio.timeout(30):
                    while batcher.waiting < SENDERS:
                        await asyncio.sleep(0.05)
                checked_out = {
                    "service": db.engine.pool.checkedout(),  # type: ignore[attr-defined]
                    "user": db.user_engine.pool.checkedout(),  # type: ignore[union-attr]
                    "statement": db.statement_engine.pool.checkedout(),  # type: ignore[union-attr]
                }
                await blocker.commit()
            finally:
                await owner.close()
            responses = await asyncio.gather(*requests)
            statuses = [r.status for r in responses]
    finally:
        await batcher.close()
        await db.dispose()
    # Only the batcher's workers hold a connection, each its own, while requests wait.
    assert checked_out == {"service": 0, "user": 0, "statement": WORKERS}
    assert statuses == [201] * SENDERS
    await assert_invariants(owner_url)
