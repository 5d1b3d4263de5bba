"""Ordering a generation: quotas, the hold, idempotency, the race for a balance, and a job
made by the local provider end to end (hold posted once, refund on failure, cancel)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from db.database import Database
from services.errors import InsufficientFunds
from services.generation.errors import (
    BudgetExhausted,
    DailyQuotaExceeded,
    GenerationFinished,
    GenerationKeyReused,
    InvalidParams,
    InvalidPrompt,
    ModelNotFound,
    TooManyJobs,
)
from services.generation.service import Quotas
from services.ledger.service import system_account
from tests.generation_helpers import PRICE, drain, generation, worker
from tests.invariants import assert_invariants
from tests.ledger_helpers import account, available, fund, make_user


async def test_twenty_concurrent_orders_against_a_balance_for_five(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 5 * PRICE + PRICE // 2)

    async def order(n: int) -> str:
        try:
            await gen.order(user_id=ann.id, request_key=f"k{n}", model="pic", prompt=f"cat {n}")
        except InsufficientFunds:
            return "refused"
        return "ok"

    results = await asyncio.gather(*(order(n) for n in range(20)))
    assert results.count("ok") == 5
    assert await available(db, ann.id) == PRICE // 2
    async with db.service() as session:
        assert await session.scalar(text("SELECT count(*) FROM ai.jobs")) == 5
    await assert_invariants(owner_url)


async def test_an_order_replayed_with_its_key_is_the_same_job(db: Database, tmp_path: Path) -> None:
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    first, created = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="x")
    again = await asyncio.gather(
        *(gen.order(user_id=ann.id, request_key="a", model="pic", prompt="x") for _ in range(5))
    )
    assert created and all(job.id == first.id and not made for job, made in again)
    assert await available(db, ann.id) == 9 * PRICE
    with pytest.raises(GenerationKeyReused):
        await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="other")


async def test_validation_and_quotas(db: Database, owner_url: str, tmp_path: Path) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 100 * PRICE)
    gen = generation(db, tmp_path, quotas=Quotas(daily_per_kind=2, concurrent=3))
    with pytest.raises(ModelNotFound):
        await gen.order(user_id=ann.id, request_key="m", model="nope", prompt="x")
    with pytest.raises(InvalidParams):
        await gen.order(
            user_id=ann.id, request_key="p", model="pic", prompt="x", params={"aspect_ratio": "7:1"}
        )
    with pytest.raises(InvalidParams):
        await gen.order(
            user_id=ann.id, request_key="p", model="pic", prompt="x", params={"evil": 1}
        )
    with pytest.raises(InvalidPrompt):
        await gen.order(user_id=ann.id, request_key="e", model="pic", prompt="   ")
    for key in ("1", "2"):
        await gen.order(user_id=ann.id, request_key=key, model="pic", prompt="x")
    with pytest.raises(DailyQuotaExceeded):
        await gen.order(user_id=ann.id, request_key="3", model="pic", prompt="x")
    await gen.order(user_id=ann.id, request_key="4", model="tune", prompt="x")
    with pytest.raises(TooManyJobs):
        await gen.order(user_id=ann.id, request_key="5", model="clip", prompt="x")
    # The day's provider budget, for everyone: 3 jobs are reserved, a fourth is over.
    bob = await make_user(db)
    await fund(db, bob.id, 100 * PRICE)
    tight = generation(db, tmp_path, quotas=Quotas(daily_budget=4 * 40_000 - 1))
    with pytest.raises(BudgetExhausted):
        await tight.order(user_id=bob.id, request_key="b", model="pic", prompt="x")
    assert await available(db, bob.id) == 100 * PRICE
    await assert_invariants(owner_url)


async def test_local_job_end_to_end_posts_the_hold_once(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    jobs = [
        (await gen.order(user_id=ann.id, request_key=m, model=m, prompt=f"a {m}"))[0]
        for m in ("pic", "tune", "clip")
    ]
    w1, w2 = worker(gen), worker(gen)
    await asyncio.gather(drain(w1), drain(w2))
    for job in jobs:
        done = await gen.get(ann.id, job.id)
        assert done.status == "succeeded", done
        assert done.progress == 100
        [out] = done.outputs
        data, mime = await gen.media_of(ann.id, job.id, 0)
        assert mime == out.mime
        assert mime in ("image/png", "audio/wav", "image/gif")
        assert data[:4] in (b"\x89PNG", b"RIFF", b"GIF8")
    assert await available(db, ann.id) == 7 * PRICE
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == 3 * PRICE
    async with db.service() as session:
        outcomes = await session.scalar(
            text("SELECT array_agg(outcome ORDER BY outcome) FROM ai.attempts")
        )
        events = await session.scalar(
            text("SELECT count(*) FROM ops.events WHERE type = 'generation'")
        )
    assert outcomes == ["succeeded"] * 3
    assert events >= 6
    await assert_invariants(owner_url)


async def test_cancel_refunds_once_and_the_worker_never_bills_it(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    from integrations.ai.local import LocalProvider

    gen = generation(db, tmp_path, providers={"local": LocalProvider(3600.0)})
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="c", model="pic", prompt="x")
    w = worker(gen)
    await w.run_once()  # submitted, running
    assert (await gen.get(ann.id, job.id)).status == "running"
    results = await asyncio.gather(
        *(gen.cancel(ann.id, job.id) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, GenerationFinished) for r in results if isinstance(r, Exception))
    await drain(w)
    assert (await gen.get(ann.id, job.id)).status == "cancelled"
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)


async def test_a_job_past_its_deadline_is_refunded(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    from integrations.ai.local import LocalProvider

    slow = LocalProvider(3600.0)
    slow.poll_seconds = 0.01
    gen = generation(db, tmp_path, providers={"local": slow})
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="d", model="pic", prompt="slow")
    await drain(worker(gen, deadlines={"image": 0.0}))
    done = await gen.get(ann.id, job.id)
    assert done.status == "failed" and done.error is not None and done.error.code == "timeout"
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)
