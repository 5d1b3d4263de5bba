"""Unclaimed gift links and packets expire: their holds are voided back to the creator."""

from __future__ import annotations

import logging

from db.database import Database
from services.gifts.service import expire_due

log = logging.getLogger(__name__)


async def expire_gifts(db: Database, *, batch_size: int = 100) -> int:
    """Safe with several instances: each locks the gifts it expires and skips the others'."""
    expired = 0
    while True:
        async with db.service() as session:
            done = await expire_due(session, limit=batch_size)
        expired += done
        if done:
            log.info("expired %d gifts", done)
        if done < batch_size:
            return expired
