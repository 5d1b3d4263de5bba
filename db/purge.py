"""Rows past their retention deleted in batches, by whichever instance gets there first.

Every instance's scheduler runs a purge. Each batch is one transaction that first try-locks
the purge's advisory key: while one instance deletes, another skips the round instead of
queueing behind it on the same rows. Without the lock it would still be right (a row two
DELETEs reach is deleted by the first; the second, after waiting, finds it gone), only slower.
Small batches keep each transaction short, so the purge never holds many rows' locks at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, text

from db import locks
from db.database import Database

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


async def purge_in_batches(
    db: Database, lock_key: int, statement: TextClause, params: dict[str, Any], batch_size: int
) -> int:
    """Run `statement` (a DELETE of at most `:batch` rows) until it deletes fewer than
    `batch_size`, each batch under the try-lock `lock_key` (one of `db.locks`' single keys);
    how many this instance deleted."""
    if lock_key not in locks.SINGLE_KEYS.values():
        raise ValueError(f"advisory key {lock_key} is not registered in db.locks")
    purged = 0
    while True:
        async with db.service() as session:
            if not await session.scalar(_TRY_LOCK, {"key": lock_key}):
                return purged
            result = await session.execute(statement, {**params, "batch": batch_size})
        deleted = int(getattr(result, "rowcount", 0) or 0)
        purged += deleted
        if deleted < batch_size:
            return purged
