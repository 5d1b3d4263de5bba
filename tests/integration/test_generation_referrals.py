"""REFERRAL_ON_AI_SPEND: a generation's posted VIBE spend pays the spender's upline as a
purchase does, once per job (ids from the job), never for free credits (promo codes, the
welcome bonus), nothing for a refunded job, and nothing with the setting off."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text

from db.database import Database
from db.models import User
from services.generation.providers import JobStatus
from services.generation.usecase import Generation
from services.generation.worker import Worker, WorkerConfig
from services.ledger.schemas import Transfer
from services.ledger.service import apply, system_account, user_account
from services.referrals.config import ReferralConfig
from services.referrals.service import binding_hook
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram
from tests.generation_helpers import PRICE, drain, generation
from tests.invariants import assert_invariants
from tests.ledger_helpers import fund

ON = ReferralConfig(on_ai_spend=True)
# A 5-VIBE generation at the bottom of a chain of ten: floor(5 VIBE x bps / 10 000) per level.
LEVELS = {1: 500_000, 2: 250_000, 3: 150_000, 4: 100_000, 5: 50_000, 6: 50_000}
LEVELS |= {7: 25_000, 8: 25_000}


async def chain(db: Database, n: int, first_id: int) -> list[User]:
    """n users, each invited by the one before (bound as the Mini App's start param does)."""
    users: list[User] = []
    for i in range(n):
        payload = f"ref_{users[-1].referral_code}" if users else None
        async with db.service() as session:
            registration = await upsert_from_telegram(
                session,
                TelegramProfile(telegram_id=first_id + i, first_name=f"U{i}"),
                admin_ids=frozenset(),
                origin=Origin.miniapp(payload),
                on_created=[binding_hook(ON)],
            )
        users.append(registration.user)
    return users


def worker_of(gen: Generation, referrals: ReferralConfig | None = ON) -> Worker:
    config = WorkerConfig(idle_seconds=0.05, max_wait=0.05, retry_seconds=0.01)
    return Worker(gen.db, gen.models, gen.providers, gen.media, config, referrals=referrals)


async def rewards(db: Database, source: str) -> dict[UUID, tuple[int, int]]:
    """referrer → (level, amount) of the rewards a source paid."""
    async with db.service() as session:
        rows = await session.execute(
            text("SELECT referrer_id, level, amount FROM referrals.rewards WHERE source = :s"),
            {"s": source},
        )
        return {r.referrer_id: (r.level, int(r.amount)) for r in rows}


async def pending_to(db: Database, user_id: UUID) -> int:
    async with db.service() as session:
        value = await session.scalar(
            text(
                "SELECT credits_pending FROM tokens.accounts WHERE user_id = :u AND asset = 'VIBE'"
            ),
            {"u": user_id},
        )
    return int(value or 0)


async def test_a_generation_pays_the_upline_once_even_when_its_post_is_retried(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    users = await chain(db, 10, 7_100_000)
    spender = users[-1]
    await fund(db, spender.id, 10 * PRICE)
    gen = generation(db, tmp_path)
    job, _ = await gen.order(user_id=spender.id, request_key="k", model="pic", prompt="a hill")
    w = worker_of(gen)
    await w.run_once()  # submitted: the job is running
    async with db.service() as session:
        running = (
            await session.execute(text("SELECT * FROM ai.jobs WHERE id = :id"), {"id": job.id})
        ).one()
    assert running.status == "running"
    # The success decided by 20 workers at once (a retried post): paid once.
    status = JobStatus(state="succeeded", progress=100)
    await asyncio.gather(*(w._succeed(running, status, [], time.monotonic()) for _ in range(20)))
    await drain(w)
    assert (await gen.get(spender.id, job.id)).status == "succeeded"
    paid = await rewards(db, f"ai:{job.id}")
    ancestors = list(reversed(users[:-1]))  # level 1 first
    assert paid == {a.id: (level, LEVELS[level]) for level, a in enumerate(ancestors[:8], 1)}
    for level, ancestor in enumerate(ancestors, 1):
        assert await pending_to(db, ancestor.id) == LEVELS.get(level, 0)
    await assert_invariants(owner_url)


async def test_free_credits_earn_nothing_and_a_refund_pays_nothing(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    referrer, spender = await chain(db, 2, 7_200_000)
    async with db.service() as session:
        await apply(
            session,
            [
                Transfer(
                    id=uuid4(),
                    debit=system_account("issuance"),
                    credit=user_account(spender.id),
                    asset="VIBE",
                    amount=3 * PRICE // 5,  # 3 VIBE from a promo code
                    code="promo",
                )
            ],
        )
    await fund(db, spender.id, 10 * PRICE)
    gen = generation(db, tmp_path)
    w = worker_of(gen)
    first, _ = await gen.order(user_id=spender.id, request_key="a", model="pic", prompt="one")
    await drain(w)
    second, _ = await gen.order(user_id=spender.id, request_key="b", model="pic", prompt="two")
    await drain(w)
    # The first spends the 3 free VIBE and 2 bought: 10% of 2 VIBE; the second all bought.
    assert await rewards(db, f"ai:{first.id}") == {referrer.id: (1, 200_000)}
    assert await rewards(db, f"ai:{second.id}") == {referrer.id: (1, 500_000)}
    cancelled, _ = await gen.order(user_id=spender.id, request_key="c", model="pic", prompt="x")
    await gen.cancel(spender.id, cancelled.id)
    await drain(w)
    assert await rewards(db, f"ai:{cancelled.id}") == {}
    assert await pending_to(db, referrer.id) == 700_000
    await assert_invariants(owner_url)


async def test_nothing_is_paid_with_the_setting_off(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    referrer, spender = await chain(db, 2, 7_300_000)
    await fund(db, spender.id, 10 * PRICE)
    gen = generation(db, tmp_path)
    job, _ = await gen.order(user_id=spender.id, request_key="k", model="pic", prompt="a hill")
    off: Any = ReferralConfig(on_ai_spend=False)
    await drain(worker_of(gen, off))
    assert (await gen.get(spender.id, job.id)).status == "succeeded"
    assert await rewards(db, f"ai:{job.id}") == {}
    assert await pending_to(db, referrer.id) == 0
    await assert_invariants(owner_url)
