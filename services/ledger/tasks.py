"""Hold expiry: holds whose timeout passed are voided by a scheduled job, once, by one instance."""

from __future__ import annotations

import logging
from uuid import UUID

from sqlalchemy import text

from db import locks
from db.database import Database
from services.ledger.schemas import ResolveHold
from services.ledger.service import create_transfers, transfer_id

log = logging.getLogger(__name__)

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_DUE = text("SELECT tokens.expired_holds(:limit)")


async def expire_holds(db: Database, *, batch_size: int = 500) -> int:
    """Void every hold past its timeout; returns how many were expired.

    The advisory lock keeps one instance at it; a crash mid-way loses nothing because the
    expiry transfer ids derive from the hold ids.
    """
    expired = 0
    while True:
        async with db.service() as session:
            if not await session.scalar(_TRY_LOCK, {"key": locks.HOLD_EXPIRY}):
                return expired
            due: list[UUID] = list((await session.scalars(_DUE, {"limit": batch_size})).all())
            if not due:
                return expired
            batch = [
                ResolveHold(id=transfer_id("expire", hold), pending_id=hold, kind="expire")
                for hold in due
            ]
            results = await create_transfers(session, batch, linked=False)
        expired += sum(result == "ok" for result in results)
        log.info("expired %d holds", sum(result == "ok" for result in results))
        if len(due) < batch_size:
            return expired
