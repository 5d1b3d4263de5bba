"""Ordering a generation: validate → quotas → price → ledger hold → job row, one transaction.

The job id derives from (user, request key), and its hold id from the job id, so an order
retried with its key finds its job (the same key with another order is a conflict) and a hold
is never placed twice. Quotas are counted under a per-user advisory lock, so concurrent orders
of one user are counted one after the other; the day's provider budget is one conditional
UPDATE of a per-day row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row

from db.database import AnyTx, ServiceTx
from db.locks import GENERATION_QUOTAS
from services.generation.catalog import ModelSpec
from services.generation.errors import (
    BudgetExhausted,
    DailyQuotaExceeded,
    GenerationFinished,
    GenerationKeyReused,
    GenerationNotFound,
    InvalidPrompt,
    TooManyJobs,
)
from services.generation.schemas import ErrorOut, JobOut, OutputOut
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.realtime.service import publish

MAX_PROMPT = 1000


@dataclass(frozen=True)
class Quotas:
    daily_per_kind: int = 50
    concurrent: int = 2
    # USD micro-units the providers may cost per UTC day, all users together.
    daily_budget: int = 50_000_000


@dataclass(frozen=True)
class Order:
    user_id: UUID
    request_key: str
    model: ModelSpec
    prompt: str
    params: dict[str, Any]
    chat_id: int | None = None


def job_id_of(user_id: UUID, request_key: str) -> UUID:
    return transfer_id("ai-job", user_id, request_key)


def hold_id_of(job_id: UUID) -> UUID:
    return transfer_id("ai-hold", job_id)


def check_prompt(prompt: str) -> str:
    """Raises InvalidPrompt (empty, too long)."""
    cleaned = prompt.strip()
    if not cleaned or len(cleaned) > MAX_PROMPT:
        raise InvalidPrompt("the prompt must be 1-1000 characters", max_length=MAX_PROMPT)
    return cleaned


def order_hash(model: str, prompt: str, params: Mapping[str, Any]) -> str:
    body = json.dumps([model, prompt, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_EXISTING = text("SELECT * FROM ai.jobs WHERE id = :id")
_COUNTS = text(
    "SELECT count(*) FILTER (WHERE kind = :kind AND created_at >= :day_start) AS today,"
    "       count(*) FILTER (WHERE status IN ('queued', 'running')) AS active,"
    "       count(*) FILTER (WHERE status IN ('queued', 'running') AND model = :model)"
    "         AS active_model"
    "  FROM ai.jobs WHERE user_id = :user_id"
    "   AND (created_at >= :day_start OR status IN ('queued', 'running'))"
)
_RESERVE = text(
    "INSERT INTO ai.daily_spend AS d (day, reserved) VALUES (:day, :cost)"
    " ON CONFLICT (day) DO UPDATE SET reserved = d.reserved + EXCLUDED.reserved"
    "  WHERE d.reserved + EXCLUDED.reserved <= :budget"
    " RETURNING reserved"
)
_INSERT = text(
    "INSERT INTO ai.jobs (id, user_id, request_key, request_hash, model, kind, prompt, params,"
    " asset, price, cost_estimate, hold_id, chat_id)"
    " VALUES (:id, :user_id, :request_key, :request_hash, :model, :kind, :prompt,"
    " CAST(:params AS jsonb), :asset, :price, :cost, :hold_id, :chat_id)"
    " RETURNING *"
)


async def create_job(session: ServiceTx, order: Order, quotas: Quotas) -> tuple[JobOut, bool]:
    """The job of this order, and whether this call created it.

    Raises GenerationKeyReused (the key of another order), DailyQuotaExceeded, TooManyJobs,
    BudgetExhausted, InsufficientFunds (the price is more than the user has available).
    """
    spec = order.model
    job_id = job_id_of(order.user_id, order.request_key)
    digest = order_hash(spec.id, order.prompt, order.params)
    # One bigint: the namespace above the id's first 32 bits (no single key has high bits set);
    # a collision only makes two users' orders queue.
    key = (GENERATION_QUOTAS << 32) | int.from_bytes(order.user_id.bytes[:4], "big")
    await session.execute(_LOCK, {"key": key})
    existing = (await session.execute(_EXISTING, {"id": job_id})).one_or_none()
    if existing is not None:
        if existing.request_hash != digest:
            raise GenerationKeyReused("this key was used for another order")
        return job_out(existing), False
    now = datetime.now(UTC)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counts = (
        await session.execute(
            _COUNTS,
            {
                "kind": spec.kind,
                "model": spec.id,
                "day_start": day_start,
                "user_id": order.user_id,
            },
        )
    ).one()
    # Rate-limit errors say when to come back (the API's Retry-After).
    tomorrow = int((day_start + timedelta(days=1) - now).total_seconds()) + 1
    if counts.today >= quotas.daily_per_kind:
        raise DailyQuotaExceeded(
            "daily limit of this kind reached",
            kind=spec.kind,
            limit=quotas.daily_per_kind,
            retry_after=tomorrow,
        )
    if counts.active >= quotas.concurrent or counts.active_model >= spec.concurrency:
        raise TooManyJobs(
            "too many jobs in progress",
            limit=min(quotas.concurrent, spec.concurrency),
            retry_after=10,
        )
    reserved = await session.scalar(
        _RESERVE, {"day": now.date(), "cost": spec.cost, "budget": quotas.daily_budget}
    )
    if reserved is None:
        raise BudgetExhausted("the generation budget of the day is spent", retry_after=tomorrow)
    hold_id = hold_id_of(job_id)
    await apply(
        session,
        [
            Transfer(
                id=hold_id,
                kind="pending",
                debit=user_account(order.user_id),
                credit=system_account("ai_spend"),
                asset=DEFAULT_ASSET,
                amount=spec.price,
                code="ai_generation",
                metadata={"job_id": str(job_id), "model": spec.id},
            )
        ],
    )
    row = (
        await session.execute(
            _INSERT,
            {
                "id": job_id,
                "user_id": order.user_id,
                "request_key": order.request_key,
                "request_hash": digest,
                "model": spec.id,
                "kind": spec.kind,
                "prompt": order.prompt,
                "params": json.dumps(order.params),
                "asset": DEFAULT_ASSET,
                "price": spec.price,
                "cost": spec.cost,
                "hold_id": hold_id,
                "chat_id": order.chat_id,
            },
        )
    ).one()
    job = job_out(row)
    await publish_job(session, order.user_id, job)
    return job, True


async def publish_job(session: ServiceTx, user_id: UUID, job: JobOut) -> None:
    await publish(
        session,
        "user",
        "generation",
        {
            "id": str(job.id),
            "status": job.status,
            "progress": job.progress,
            "error": job.error.code if job.error else None,
        },
        user_id=user_id,
    )


def job_out(row: Row[Any]) -> JobOut:
    outputs = [
        OutputOut(
            url=f"/api/v1/generations/{row.id}/media/{n}",
            mime=o["mime"],
            width=o.get("width"),
            height=o.get("height"),
            duration=o.get("duration"),
        )
        for n, o in enumerate(row.outputs or [])
    ]
    error = (
        ErrorOut(code=row.error_code, message=row.error_message or row.error_code)
        if row.error_code
        else None
    )
    return JobOut(
        id=row.id,
        model=row.model,
        kind=row.kind,
        prompt=row.prompt,
        params=row.params,
        status=row.status,
        progress=row.progress,
        outputs=outputs,
        error=error,
        price=str(int(row.price)),
        asset=row.asset,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


_GET = text("SELECT * FROM ai.jobs WHERE id = :id AND user_id = :user_id")


async def get_row(session: AnyTx, user_id: UUID, job_id: UUID) -> Row[Any]:
    """Raises GenerationNotFound (also for another user's job)."""
    row = (await session.execute(_GET, {"id": job_id, "user_id": user_id})).one_or_none()
    if row is None:
        raise GenerationNotFound("no such generation")
    return row


async def get_job(session: AnyTx, user_id: UUID, job_id: UUID) -> JobOut:
    return job_out(await get_row(session, user_id, job_id))


_LIST = text(
    "SELECT * FROM ai.jobs WHERE user_id = :user_id"
    " AND (CAST(:before AS timestamptz) IS NULL OR (created_at, id) < (:before, :before_id))"
    " ORDER BY created_at DESC, id DESC LIMIT :limit"
)


async def list_jobs(
    session: AnyTx,
    user_id: UUID,
    *,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[JobOut]:
    rows = (
        await session.execute(
            _LIST,
            {
                "user_id": user_id,
                "before": before[0] if before else None,
                "before_id": before[1] if before else None,
                "limit": limit,
            },
        )
    ).all()
    return [job_out(row) for row in rows]


_CANCEL = text(
    "UPDATE ai.jobs SET status = 'cancelled', finished_at = now(), error_code = 'cancelled',"
    " error_message = 'cancelled by the user', next_step_at = now(), lease_until = NULL"
    " WHERE id = :id AND user_id = :user_id AND status IN ('queued', 'running')"
    " RETURNING *"
)
_RELEASE_BUDGET = text(
    "UPDATE ai.daily_spend SET reserved = greatest(0, reserved - :amount)"
    " WHERE day = CAST(:day AS date)"
)


async def cancel_job(session: ServiceTx, user_id: UUID, job_id: UUID) -> Row[Any]:
    """Cancel a job not yet finished and refund it (void the hold), once.

    Raises GenerationNotFound, GenerationFinished.
    """
    row = (await session.execute(_CANCEL, {"id": job_id, "user_id": user_id})).one_or_none()
    if row is None:
        await get_row(session, user_id, job_id)
        raise GenerationFinished("the generation has already finished")
    await refund(session, row)
    await publish_job(session, user_id, job_out(row))
    return row


async def refund(session: ServiceTx, row: Row[Any]) -> None:
    """Void the job's hold and give back the unspent part of its budget reservation."""
    await apply(
        session,
        [ResolveHold(id=transfer_id("ai-void", row.id), pending_id=row.hold_id, kind="void")],
    )
    unspent = max(0, int(row.cost_estimate) - int(row.cost_actual))
    await session.execute(
        _RELEASE_BUDGET, {"amount": unspent, "day": row.created_at.astimezone(UTC).date()}
    )
