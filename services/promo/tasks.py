"""Expired promo codes are closed and what is left of their budget released, by any instance."""

from __future__ import annotations

import logging

from db.database import Database
from services.promo.service import close_expired

log = logging.getLogger(__name__)


async def close_expired_promos(db: Database, *, batch_size: int = 100) -> int:
    """Safe with several instances: each locks the codes it closes and skips the others'."""
    closed = 0
    while True:
        async with db.service() as session:
            done = await close_expired(session, limit=batch_size)
        closed += done
        if done:
            log.info("closed %d expired promo codes", done)
        if done < batch_size:
            return closed
