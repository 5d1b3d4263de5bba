"""Gifts count on the sender's P2P daily limit, like a send: a direct gift, and the escrow of a
gift link or red packet when it is made. Real connections racing the limit never pass it; the
invariants run after each test."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from db.database import Database
from db.models import User
from services.errors import DomainError
from services.gifts.usecase import Gifts
from services.i18n import Catalog
from services.ledger.errors import DailyLimitExceeded
from services.ledger.service import AssetRegistry
from services.transfers.config import LedgerConfig, P2PRules
from services.transfers.service import P2P_CODE, send
from tests.api import tma, web_user
from tests.ledger_helpers import available, fund, make_user
from tests.services import http_config, make_services, root_app

# VIBE has 6 decimals: 0.001 VIBE is 1000 units.
RULES = P2PRules(fee_bps=0, minimum="0.000001", daily_limit="0.001")
LIMIT = 1000


def gifts(db: Database) -> Gifts:
    return Gifts(db, AssetRegistry(), ttl=timedelta(days=7), bot_username="b", p2p=RULES)


async def spent_today(db: Database, user: User) -> int:
    async with db.service() as session:
        value = await session.scalar(
            text(
                "SELECT coalesce((daily_debits->>:code)::numeric, 0) FROM tokens.accounts"
                " WHERE address = :address AND asset = 'VIBE'"
            ),
            {"code": P2P_CODE, "address": f"user:{user.id}"},
        )
    return int(value or 0)


async def p2p(db: Database, sender: User, recipient: User, amount: int) -> None:
    assets = AssetRegistry()
    async with db.service() as session:
        await send(
            session,
            RULES,
            sender=sender,
            recipient=recipient,
            asset=await assets.get(session, "VIBE"),
            amount=amount,
            transfer_id=uuid4(),
        )


async def test_sends_and_every_kind_of_gift_share_one_daily_limit(db: Database) -> None:
    g = gifts(db)
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 100_000)
    start = await available(db, ann.id)
    await p2p(db, ann, bob, 400)
    await g.create(
        creator=ann,
        gift_id=uuid4(),
        kind="direct",
        asset="VIBE",
        amount=300,
        recipient=str(bob.telegram_id),
    )
    link = await g.create(creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=200)
    with pytest.raises(DailyLimitExceeded) as refused:
        await g.create(
            creator=ann, gift_id=uuid4(), kind="packet", asset="VIBE", amount=101, shares=2
        )
    # The same code and details as a refused P2P send.
    assert refused.value.code == "daily_limit_exceeded"
    assert refused.value.details == {"limit": "0.001", "asset": "VIBE"}
    assert len(await g.list_for(ann)) == 2  # the refused packet left nothing behind
    await g.create(creator=ann, gift_id=uuid4(), kind="packet", asset="VIBE", amount=100, shares=2)
    assert await spent_today(db, ann) == LIMIT
    with pytest.raises(DailyLimitExceeded) as p2p_refused:
        await p2p(db, ann, bob, 1)
    assert p2p_refused.value.details == refused.value.details
    with pytest.raises(DailyLimitExceeded):
        await g.create(
            creator=ann,
            gift_id=uuid4(),
            kind="direct",
            asset="VIBE",
            amount=1,
            recipient=str(bob.telegram_id),
        )
    # Cancelling a link returns its escrow, not the day's allowance (as a send is not undone).
    await g.cancel(creator=ann, gift_id=link.id)
    assert await available(db, ann.id) == start - 400 - 300 - 100
    with pytest.raises(DailyLimitExceeded):
        await g.create(creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=1)
    # Each sender has their own counter: Bob may send what he was given.
    await p2p(db, bob, ann, 700)


async def test_gifts_racing_the_limit_never_pass_it(db: Database) -> None:
    g = gifts(db)
    ann = await make_user(db)
    await fund(db, ann.id, 1_000_000)
    others = [await make_user(db) for _ in range(4)]
    start = await available(db, ann.id)

    async def one(i: int) -> str:
        await asyncio.sleep(random.uniform(0, 0.01))
        kind = ("direct", "link", "packet")[i % 3]
        extra: dict[str, Any] = {}
        if kind == "direct":
            extra["recipient"] = str(others[i % 4].telegram_id)
        if kind == "packet":
            extra["shares"] = 3
        try:
            await g.create(
                creator=ann, gift_id=uuid4(), kind=kind, asset="VIBE", amount=70, **extra
            )
        except DomainError as error:
            return error.code
        return "ok"

    results = await asyncio.gather(*(one(i) for i in range(40)))
    # 14 × 70 = 980 fits the 1000 of the day; a 15th would not.
    assert results.count("ok") == 14, results
    assert set(results) == {"ok", "daily_limit_exceeded"}
    assert await spent_today(db, ann) == 980
    assert await available(db, ann.id) == start - 980
    assert len(await g.list_for(ann)) == 14


async def test_the_api_refuses_a_gift_over_the_limit_as_it_refuses_a_send(
    db: Database, catalog: Catalog
) -> None:
    services = make_services(db, catalog, ledger=LedgerConfig(p2p=RULES))
    client: TestClient[Any, Any] = TestClient(TestServer(root_app(services, http_config())))
    await client.start_server()
    ann, bob = web_user(7301, "Ann", username="ann_lim"), web_user(7302, "Bob", username="bob_lim")
    try:

        async def post(user: dict[str, Any], path: str, body: Any) -> tuple[int, Any]:
            headers = {**tma(user), "Idempotency-Key": str(uuid4())}
            response = await client.post(path, json=body, headers=headers)
            return response.status, await response.json()

        await client.get("/api/v1/balances", headers=tma(bob))  # registers Bob
        link = {"kind": "link", "asset": "VIBE", "amount": "600"}
        assert (await post(ann, "/api/v1/gifts", link))[0] == 201
        status, gift = await post(ann, "/api/v1/gifts", link)
        assert status == 409, gift
        status, sent = await post(
            ann, "/api/v1/transfers", {"recipient": "@bob_lim", "amount": "600"}
        )
        assert status == 409, sent
        assert gift["error"]["code"] == sent["error"]["code"] == "daily_limit_exceeded"
        assert gift["error"]["details"] == sent["error"]["details"]
        status, _ = await post(ann, "/api/v1/transfers", {"recipient": "@bob_lim", "amount": "400"})
        assert status == 201
    finally:
        await client.close()
