"""One Idempotency-Key does the work once, however its retries race, and a key names one body.

Real concurrency through the API (asyncio.gather on the test client), no timing assumptions:
whatever order the requests arrive in, every answer is the first one's.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from db.database import Database
from db.urls import asyncpg_dsn
from services.promo.usecase import Promos
from tests.api import api, tma, web_user  # noqa: F401
from tests.ledger_helpers import available, fund, make_user
from tests.pg import waiting_on_locks
from webapp_api import idempotency

ADMIN = web_user(900, "Root", username="root")
ANN = web_user(7101, "Ann", username="ann_api")
BOB = web_user(7102, "Bob", username="bob_api")
REDEEM = "/api/v1/promo/redeem"


async def _promo(api: TestClient[Any, Any], code: str) -> None:
    terms = {"code": code, "asset": "VIBE", "amount": "1000", "max_uses": 100, "per_user": 50}
    response = await api.post(
        "/api/v1/admin/promo", json=terms, headers=tma(ADMIN) | {"Idempotency-Key": code}
    )
    assert response.status == 201, await response.text()


async def _redemptions(db: Database) -> int:
    async with db.service() as session:
        count = await session.scalar(text("SELECT count(*) FROM gifts.promo_redemptions"))
    return int(count or 0)


async def _gifts(db: Database) -> int:
    async with db.service() as session:
        count = await session.scalar(text("SELECT count(*) FROM gifts.gifts"))
    return int(count or 0)


async def test_concurrent_retries_of_one_key_redeem_once_and_answer_alike(
    api: TestClient[Any, Any], db: Database
) -> None:
    await _promo(api, "RACE10")
    headers = tma(ANN) | {"Idempotency-Key": "one-retry-key"}
    responses = await asyncio.gather(
        *(api.post(REDEEM, json={"code": "race10"}, headers=headers) for _ in range(10))
    )
    answers = [(response.status, (await response.json())["data"]) for response in responses]
    # Each waited for the first and answered its response: one status, one transfer.
    assert {status for status, _ in answers} == {200}
    assert len({data["transfer_id"] for _, data in answers}) == 1
    assert await _redemptions(db) == 1
    # A later retry replays it too, and a new key redeems again.
    again = await api.post(REDEEM, json={"code": "race10"}, headers=headers)
    assert (await again.json())["data"] == answers[0][1]
    fresh = await api.post(
        REDEEM, json={"code": "race10"}, headers=tma(ANN) | {"Idempotency-Key": "another"}
    )
    assert fresh.status == 200 and await _redemptions(db) == 2


async def test_a_failed_handler_frees_its_key_for_a_retry(
    api: TestClient[Any, Any], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _promo(api, "FAILONCE")
    original = Promos.redeem
    calls: list[int] = []

    async def fail_first(self: Promos, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away mid-request")
        return await original(self, **kwargs)

    monkeypatch.setattr(Promos, "redeem", fail_first)
    headers = tma(ANN) | {"Idempotency-Key": "retry-after-crash"}
    failed = await api.post(REDEEM, json={"code": "failonce"}, headers=headers)
    assert failed.status == 500
    retried = await api.post(REDEEM, json={"code": "failonce"}, headers=headers)
    assert retried.status == 200, await retried.text()
    assert len(calls) == 2 and await _redemptions(db) == 1


async def test_an_abandoned_claim_does_not_block_its_key(
    api: TestClient[Any, Any], db: Database
) -> None:
    await _promo(api, "ABANDON")
    ann = await make_user(db, "ann_api", 7101)
    # What a process that died mid-request leaves: a claim nobody will finish.
    async with db.statement() as conn:
        await conn.execute(
            text(
                "INSERT INTO tokens.idempotency_keys"
                " (user_id, key, request_hash, status, response, created_at)"
                " VALUES (:user_id, 'dead-key', :digest, 0, '{\"claim\": \"gone\"}',"
                " now() - :age * interval '1 second')"
            ),
            {
                "user_id": ann.id,
                "digest": idempotency.request_hash({"code": "abandon"}),
                "age": idempotency.ABANDONED_AFTER.total_seconds() + 1,
            },
        )
    headers = tma(ANN) | {"Idempotency-Key": "dead-key"}
    response = await api.post(REDEEM, json={"code": "abandon"}, headers=headers)
    assert response.status == 200, await response.text()
    assert await _redemptions(db) == 1


async def test_a_gift_key_with_another_body_is_refused(
    api: TestClient[Any, Any], db: Database
) -> None:
    ann = await make_user(db, "ann_api", 7101)
    await make_user(db, "bob_api", 7102)
    await fund(db, ann.id, 10**9, "VIBE")
    packet = tma(ANN) | {"Idempotency-Key": "packet-key"}
    first = {"kind": "packet", "amount": "1000", "shares": 2, "message": "first"}
    created = await api.post("/api/v1/gifts", json=first, headers=packet)
    assert created.status == 201
    other = first | {"shares": 10, "split": "random", "message": "second"}
    refused = await api.post("/api/v1/gifts", json=other, headers=packet)
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "idempotency_key_reused"

    link = tma(ANN) | {"Idempotency-Key": "link-key"}
    named = {"kind": "link", "amount": "1000", "recipient": "@bob_api"}
    assert (await api.post("/api/v1/gifts", json=named, headers=link)).status == 201
    opened = await api.post("/api/v1/gifts", json={"kind": "link", "amount": "1000"}, headers=link)
    assert opened.status == 409
    assert (await opened.json())["error"]["code"] == "idempotency_key_reused"
    assert await _gifts(db) == 2


async def test_a_gift_key_with_the_same_body_answers_the_same_gift(
    api: TestClient[Any, Any], db: Database
) -> None:
    ann = await make_user(db, "ann_api", 7101)
    await fund(db, ann.id, 10**9, "VIBE")
    headers = tma(ANN) | {"Idempotency-Key": "same-gift"}
    body = {"kind": "packet", "amount": "1000", "shares": 3, "message": "hi"}
    responses = await asyncio.gather(
        *(api.post("/api/v1/gifts", json=body, headers=headers) for _ in range(5))
    )
    answers = [(response.status, (await response.json())["data"]) for response in responses]
    assert {status for status, _ in answers} == {201}
    assert len({data["id"] for _, data in answers}) == 1
    # The secret is in one answer only: the one that created the gift.
    assert sum(data["link"] is not None for _, data in answers) == 1
    replay = await api.post("/api/v1/gifts", json=body, headers=headers)
    replayed = (await replay.json())["data"]
    assert (replay.status, replayed["id"], replayed["link"]) == (201, answers[0][1]["id"], None)
    assert await _gifts(db) == 1
    assert await available(db, ann.id) == 10**9 - 1000


async def test_keys_a_day_old_are_purged_and_the_key_then_names_a_new_request(
    api: TestClient[Any, Any], db: Database
) -> None:
    """Two instances' purges at once delete each day-old key once and keep the recent ones; a
    retry under a purged key is a new request, a retry under a kept one replays."""
    await _promo(api, "KEEP10")
    for key in ("old-1", "old-2", "new-1"):
        response = await api.post(
            REDEEM, json={"code": "keep10"}, headers=tma(ANN) | {"Idempotency-Key": key}
        )
        assert response.status == 200, await response.text()
    async with db.service() as session:
        await session.execute(
            text(
                "UPDATE tokens.idempotency_keys SET created_at = now() - interval '25 hours'"
                " WHERE key LIKE 'old-%'"
            )
        )
    counts = await asyncio.gather(*(idempotency.purge_keys(db, batch_size=1) for _ in range(2)))
    assert sum(counts) + await idempotency.purge_keys(db) == 2
    async with db.service() as session:
        kept = (await session.scalars(text("SELECT key FROM tokens.idempotency_keys"))).all()
    assert "new-1" in kept and not {"old-1", "old-2"} & set(kept)

    for key, redemptions in (("new-1", 3), ("old-1", 4)):
        again = await api.post(
            REDEEM, json={"code": "keep10"}, headers=tma(ANN) | {"Idempotency-Key": key}
        )
        assert again.status == 200
        assert await _redemptions(db) == redemptions


async def test_a_claim_renewed_while_its_handler_runs_is_never_taken_over(db: Database) -> None:
    """A handler slower than the abandonment window (a Telegram call may take 60 s) keeps its
    claim: a retry waits for its answer instead of running the request a second time. The
    same claim left unrenewed is taken over, which is what the renewal prevents."""
    ann = await make_user(db, "ann_api", 7101)
    window = timedelta(seconds=2)

    def claim(key: str) -> Any:
        return idempotency._Claim(db, ann.id, key, "digest", abandoned_after=window)

    slow, silent = claim("slow"), claim("silent")
    assert await slow.take() is None and await silent.take() is None
    renewal = asyncio.create_task(slow.renew())
    await asyncio.sleep(2 * window.total_seconds())
    # Abandoned: the retry takes it.
    assert await claim("silent").take() is None
    retry = asyncio.create_task(claim("slow").take())
    await asyncio.sleep(window.total_seconds())
    assert not retry.done()
    renewal.cancel()
    await slow.finish(201, {"id": 1})
    assert await retry == (201, '{"id": 1}')


async def test_the_purge_keeps_a_claim_a_retry_took_over_while_it_waited(
    api: TestClient[Any, Any], db: Database, owner_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed request's released claim is old enough to purge; the client's retry takes it
    over while the purge's DELETE waits for the row. The DELETE must see the row the retry
    left (created now) and keep it: else the answer is never stored and the next retry under
    the key redeems a second time."""
    await _promo(api, "PURGE10")
    original = Promos.redeem

    async def boom(self: Promos, **kwargs: Any) -> Any:
        raise RuntimeError("transient")

    monkeypatch.setattr(Promos, "redeem", boom)
    headers = tma(ANN) | {"Idempotency-Key": "retry-me"}
    assert (await api.post(REDEEM, json={"code": "purge10"}, headers=headers)).status == 500
    monkeypatch.setattr(Promos, "redeem", original)

    # A third transaction holds the row a moment, only so that the retry's claim and then the
    # purge queue on it in that order.
    locker = await asyncpg.connect(asyncpg_dsn(owner_url))
    watcher = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        hold = locker.transaction()
        await hold.start()
        await locker.execute(
            "SELECT 1 FROM tokens.idempotency_keys WHERE key = 'retry-me' FOR UPDATE"
        )
        retry = asyncio.create_task(api.post(REDEEM, json={"code": "purge10"}, headers=headers))
        await waiting_on_locks(watcher, 1)
        purge = asyncio.create_task(idempotency.purge_keys(db))
        await waiting_on_locks(watcher, 2)
        await hold.commit()
        response = await retry
        assert response.status == 200, await response.text()
        first = (await response.json())["data"]
        assert await purge == 0
    finally:
        await locker.close()
        await watcher.close()
    again = await api.post(REDEEM, json={"code": "purge10"}, headers=headers)
    assert (again.status, (await again.json())["data"]) == (200, first)
    assert await _redemptions(db) == 1


async def test_a_key_purged_between_the_claim_and_its_lookup_is_a_new_request(
    api: TestClient[Any, Any], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim finds a day-old answer; the purge deletes it before the lookup reads it. The
    key is then free: the retry is a new request, never a 500."""
    await _promo(api, "LOOK10")
    headers = tma(ANN) | {"Idempotency-Key": "old-1"}
    assert (await api.post(REDEEM, json={"code": "look10"}, headers=headers)).status == 200
    async with db.service() as session:
        await session.execute(
            text(
                "UPDATE tokens.idempotency_keys SET created_at = now() - interval '25 hours'"
                " WHERE key = 'old-1'"
            )
        )
    real_driver = idempotency._driver

    class PurgeBeforeLookup:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def fetchval(self, *args: Any) -> Any:
            return await self.inner.fetchval(*args)

        async def fetchrow(self, sql: str, *args: Any) -> Any:
            if sql == idempotency._LOOKUP:
                assert await idempotency.purge_keys(db) == 1
            return await self.inner.fetchrow(sql, *args)

    async def driver(conn: Any) -> Any:
        return PurgeBeforeLookup(await real_driver(conn))

    monkeypatch.setattr(idempotency, "_driver", driver)
    retry = await api.post(REDEEM, json={"code": "look10"}, headers=headers)
    assert retry.status == 200, await retry.text()
    assert await _redemptions(db) == 2
