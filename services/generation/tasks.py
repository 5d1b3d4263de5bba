"""Scheduled generation housekeeping: webhook receipts past their retention are deleted.

A receipt only has to outlive the provider's redeliveries of that callback (seconds to
minutes: Replicate, BFL 1/5/30 s, sunoapi.org one per stage); a callback seen again after its
receipt is gone is one more nudge, which reads the provider's status and changes nothing.

Every instance's scheduler runs it, one batch at a time under `locks.WEBHOOK_RECEIPT_PURGE`
(`db.purge`).
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from db import locks
from db.database import Database
from db.purge import purge_in_batches

log = logging.getLogger(__name__)

_PURGE = text(
    "DELETE FROM ai.webhook_receipts WHERE (provider, delivery_id) IN"
    " (SELECT provider, delivery_id FROM ai.webhook_receipts"
    "   WHERE received_at < now() - make_interval(secs => :retention) LIMIT :batch)"
)


async def purge_webhook_receipts(
    db: Database, retention_seconds: float, *, batch_size: int = 5000
) -> int:
    """Delete receipts older than the retention; how many this instance deleted."""
    purged = await purge_in_batches(
        db, locks.WEBHOOK_RECEIPT_PURGE, _PURGE, {"retention": retention_seconds}, batch_size
    )
    if purged:
        log.info("purged %d AI webhook receipts", purged)
    return purged
