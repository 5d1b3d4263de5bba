from __future__ import annotations

from sqlalchemy import text

from db.database import Database

RETENTION_DAYS = 7


async def purge_delivered(db: Database) -> int:
    """Delivered messages are kept a week for support questions, then dropped."""
    async with db.service() as session:
        result = await session.execute(
            text(
                "DELETE FROM ops.outbox WHERE status = 'sent'"
                " AND sent_at < now() - make_interval(days => :days)"
            ),
            {"days": RETENTION_DAYS},
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
