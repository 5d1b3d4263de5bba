"""Scheduled generation housekeeping: webhook receipts past their retention are deleted.

A receipt only has to outlive the provider's redeliveries of that callback (seconds to
minutes: Replicate, BFL 1/5/30 s, sunoapi.org one per stage); a callback seen again after its
receipt is gone is one more nudge, which reads the provider's status and changes nothing.

Every instance's scheduler runs it. Each batch is one transaction that first try-locks
`locks.WEBHOOK_RECEIPT_PURGE`: while one instance deletes, another skips the round instead of
queueing behind it on the same rows. Without the lock it would still be right (a row two
DELETEs reach is deleted by the first; the second, after waiting, finds it gone), only slower.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from db import locks
from db.database import Database

log = logging.getLogger(__name__)

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_PURGE = text(
    "DELETE FROM ai.webhook_receipts WHERE (provider, delivery_id) IN"
    " (SELECT provider, delivery_id FROM ai.webhook_receipts"
    "   WHERE received_at < now() - make_interval(secs => :retention) LIMIT :batch)"
)


async def purge_webhook_receipts(
    db: Database, retention_seconds: float, *, batch_size: int = 5000
) -> int:
    """Delete receipts older than the retention; how many this instance deleted."""
    purged = 0
    while True:
        async with db.service() as session:
            if not await session.scalar(_TRY_LOCK, {"key": locks.WEBHOOK_RECEIPT_PURGE}):
                return purged
            result = await session.execute(
                _PURGE, {"retention": retention_seconds, "batch": batch_size}
            )
        deleted = int(getattr(result, "rowcount", 0) or 0)
        purged += deleted
        if deleted < batch_size:
            if purged:
                log.info("purged %d AI webhook receipts", purged)
            return purged
