"""The event log keeps `REALTIME_RETENTION`; a scheduled job drops what is older."""

from __future__ import annotations

from sqlalchemy import text

from db.database import Database

# Deleted and the horizon moved in one statement, so a resume never sees a purged gap as
# servable: a resume reads the horizon first, then the rows.
_PURGE = text(
    """
    WITH gone AS (
        DELETE FROM ops.events
         WHERE created_at < now() - make_interval(secs => :retention)
        RETURNING id
    )
    UPDATE ops.events_horizon
       SET purged_through = greatest(purged_through, (SELECT max(id) FROM gone))
     WHERE EXISTS (SELECT FROM gone)
    RETURNING (SELECT count(*) FROM gone)
    """
)


async def purge_events(db: Database, retention_seconds: float) -> int:
    """Drop events older than the retention; returns how many."""
    async with db.service() as session:
        purged = (await session.execute(_PURGE, {"retention": retention_seconds})).scalar()
    return int(purged or 0)
