"""Webhook receipts (the providers' callbacks deduplicated) are purged after their retention
by a scheduled job every instance runs: two at once delete each old receipt once between
them, keep the recent ones, and one holding the purge lock makes the other skip its round."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from db import locks
from db.database import Database
from services.generation.tasks import purge_webhook_receipts

_FILL = text(
    "INSERT INTO ai.webhook_receipts (provider, delivery_id, received_at)"
    " SELECT 'replicate', 'old-' || n, now() - interval '5 hours' FROM generate_series(1, :old) n"
    " UNION ALL"
    " SELECT 'suno', 'new-' || n, now() - interval '1 hour' FROM generate_series(1, :new) n"
)


async def left(db: Database) -> dict[str, int]:
    async with db.service() as session:
        rows = await session.execute(
            text(
                "SELECT split_part(delivery_id, '-', 1) AS age, count(*) AS n"
                " FROM ai.webhook_receipts GROUP BY 1"
            )
        )
        return {r.age: r.n for r in rows}


async def test_two_instances_purge_old_receipts_once_and_keep_recent_ones(db: Database) -> None:
    async with db.service() as session:
        await session.execute(_FILL, {"old": 1200, "new": 30})
    counts = await asyncio.gather(
        *(purge_webhook_receipts(db, 2 * 3600, batch_size=100) for _ in range(2))
    )
    # Whichever ran, every old receipt went once; a later round finds nothing.
    assert sum(counts) + await purge_webhook_receipts(db, 2 * 3600) == 1200
    assert await left(db) == {"new": 30}
    assert await purge_webhook_receipts(db, 2 * 3600) == 0


async def test_an_instance_skips_the_round_while_another_holds_the_purge(db: Database) -> None:
    async with db.service() as session:
        await session.execute(_FILL, {"old": 10, "new": 0})
    async with db.service() as other:
        assert await other.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": locks.WEBHOOK_RECEIPT_PURGE}
        )
        assert await purge_webhook_receipts(db, 3600) == 0
    assert await purge_webhook_receipts(db, 3600) == 10
    assert await left(db) == {}
