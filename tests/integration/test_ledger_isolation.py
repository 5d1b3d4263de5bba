"""One user's bad send never fails the other sends of its batch."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from db.database import Database
from db.models import User
from sandbox.initdata import sign_init_data
from services.errors import ValidationError
from services.i18n import Catalog
from services.ledger.schemas import Asset
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig, P2PRules
from services.transfers.service import PlannedSend, Receipt, plan_send
from tests.api import api_context
from tests.ledger_helpers import available, fund, make_user
from webapp_api.app import create_api_app

VIBE = Asset(code="VIBE", name="Good Vibe token", decimals=6, transferable=True)
SENDS, POISONED = 400, 40
TOKEN = "7000000003:ISOLATION-test-token"
AMOUNT = 1_000_000


async def _users(db: Database, count: int) -> list[User]:
    users = [await make_user(db, f"iso{n}") for n in range(count)]
    for user in users:
        await fund(db, user.id, 100 * AMOUNT)
    return users


async def _outbox(db: Database) -> int:
    async with db.service() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM ops.outbox WHERE template LIKE 'send.received%'")
        )
    return int(count or 0)


def _poison(planned: PlannedSend, how: int) -> PlannedSend:
    """What `plan_send` refuses, forced past it: each makes the whole statement fail."""
    main = planned.legs[0]
    if how == 0:  # NUL: no jsonb holds \u0000
        legs = [dataclasses.replace(main, metadata={"memo": "a\x00b"}), *planned.legs[1:]]
        return dataclasses.replace(planned, legs=legs)
    if how == 1:  # a lone surrogate: not UTF-8
        notice = {**planned.notice, "params": {**planned.notice["params"], "memo": "\ud800"}}
        return dataclasses.replace(planned, notice=notice)
    # a chat id no bigint holds
    return dataclasses.replace(planned, notice={**planned.notice, "chat_id": 2**70})


async def test_poisoned_sends_reaching_the_statement_fail_alone(db: Database) -> None:
    users = await _users(db, 40)
    rng = random.Random(7)
    rules = P2PRules(fee_bps=100)
    batcher = SendBatcher(db, rules, workers=2)
    poisoned = set(rng.sample(range(SENDS), POISONED))
    planned: list[PlannedSend] = []
    for n in range(SENDS):
        sender, recipient = rng.sample(users, 2)
        plan = plan_send(
            rules,
            sender=sender,
            recipient=recipient,
            asset=VIBE,
            amount=AMOUNT,
            transfer_id=uuid4(),
            memo="hi",
        )
        planned.append(_poison(plan, n % 3) if n in poisoned else plan)
    before = {u.id: await available(db, u.id) for u in users}
    try:
        outcomes = await asyncio.gather(
            *(batcher.submit(p) for p in planned), return_exceptions=True
        )
        # Everything again, poison included: the batches are isolated again, the good sends
        # answer `exists` and nothing moves twice.
        replays = await asyncio.gather(
            *(batcher.submit(p) for p in planned), return_exceptions=True
        )
    finally:
        await batcher.close()
    ok = [n for n, o in enumerate(outcomes) if isinstance(o, Receipt)]
    failed = {n: o for n, o in enumerate(outcomes) if not isinstance(o, Receipt)}
    assert len(ok) == SENDS - POISONED and set(failed) == poisoned
    assert all(
        isinstance(e, ValidationError) and e.code == "invalid_request" for e in failed.values()
    )
    assert [isinstance(r, Receipt) and r.replayed for r in replays] == [
        n not in poisoned for n in range(SENDS)
    ]
    # Exactly the good sends moved, each once, and only they notified anyone.
    expected = dict(before)
    for n in ok:
        p = planned[n]
        sender = next(u for u in users if p.legs[0].debit == f"user:{u.id}")
        expected[sender.id] -= p.amount + p.fee
        expected[p.recipient.id] += p.amount
    assert {u.id: await available(db, u.id) for u in users} == expected
    assert await _outbox(db) == SENDS - POISONED


@pytest.mark.parametrize(
    ("memo", "amount", "code"),
    [
        ("nul\x00", AMOUNT, "invalid_memo"),
        ("\udc80", AMOUNT, "invalid_memo"),
        ("ok", 10**39, "amount_too_large"),
        ("ok", 10**5000, "amount_too_large"),  # json.dumps itself would refuse it
    ],
    ids=["nul", "surrogate", "over_numeric", "over_str"],
)
async def test_bad_sends_are_refused_before_the_batch(
    db: Database, memo: str, amount: int, code: str
) -> None:
    users = await _users(db, 20)
    rng = random.Random(11)
    batcher = SendBatcher(db, P2PRules(fee_bps=100), workers=2)
    bad = set(rng.sample(range(SENDS), POISONED))
    try:
        outcomes = await asyncio.gather(
            *(
                batcher.send(
                    **dict(zip(("sender", "recipient"), rng.sample(users, 2), strict=True)),
                    asset=VIBE,
                    amount=amount if n in bad else AMOUNT,
                    transfer_id=uuid4(),
                    memo=memo if n in bad else "fine",
                )
                for n in range(SENDS)
            ),
            return_exceptions=True,
        )
    finally:
        await batcher.close()
    failed = {n: o for n, o in enumerate(outcomes) if not isinstance(o, Receipt)}
    assert set(failed) == bad
    assert all(isinstance(e, ValidationError) and e.code == code for e in failed.values())
    assert await _outbox(db) == SENDS - POISONED


async def test_api_sends_with_bad_memos_fail_alone(db: Database, catalog: Catalog) -> None:
    """The issue's case: 400 concurrent API sends, 40 with a NUL in the memo."""
    rules = P2PRules(fee_bps=100, daily_limit="0")
    batcher = SendBatcher(db, rules)
    context = api_context(
        db,
        catalog,
        bot_token=TOKEN,
        admin_ids=frozenset(),
        ledger=LedgerConfig(welcome_bonus=20_000_000, p2p=rules),
        executor=batcher,
    )
    people = [{"id": 8000 + n, "first_name": f"P{n}", "username": f"peer{n}"} for n in range(20)]
    rng = random.Random(3)
    bad = set(rng.sample(range(SENDS), POISONED))
    try:
        async with TestClient(TestServer(create_api_app(context))) as client:
            for person in people:  # first contact: the user and the welcome bonus
                assert (await client.get("/api/v1/balances", headers=_auth(person))).status == 200

            async def post(n: int) -> int:
                sender, recipient = rng.sample(people, 2)
                body = {
                    "recipient": f"@{recipient['username']}",
                    "asset": "VIBE",
                    "amount": "100000",
                    "memo": "bad\x00memo" if n in bad else "thanks",
                }
                headers = _auth(sender) | {"Idempotency-Key": f"k{n}"}
                response = await client.post("/api/v1/transfers", json=body, headers=headers)
                if response.status != 201:
                    assert (await response.json())["error"]["code"] == "validation_error"
                return response.status

            statuses = await asyncio.gather(*(post(n) for n in range(SENDS)))
    finally:
        await batcher.close()
    assert {n for n, s in enumerate(statuses) if s != 201} == bad
    assert {statuses[n] for n in bad} == {422}
    assert await _outbox(db) == SENDS - POISONED


def _auth(user: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"tma {sign_init_data(TOKEN, user)}"}
