"""The event log keeps `REALTIME_RETENTION`; a scheduled job drops what is older."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text

from db.database import Database
from services.realtime.service import Realtime

log = logging.getLogger(__name__)

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


async def presence_heartbeat(realtime: Realtime, db: Database, stop: asyncio.Event) -> None:
    """Every `presence.interval`: this instance's sockets into the connection table (so they
    keep counting for the cap and presence), then each socket its `presence` message."""
    presence, hub = realtime.presence, realtime.hub
    while not stop.is_set():
        try:
            counts = hub.counts()
            await presence.refresh(db, counts)
            view = await presence.view(db, list(counts))
            for user in counts:
                message = view.message(user)
                for subscriber in hub.subscribers_of(user):
                    subscriber.reply(message)
        # A database outage must not end the heartbeat: the rows expire meanwhile, and the
        # next round writes them again.
        except Exception:
            log.exception("realtime presence heartbeat failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(presence.interval):
                await stop.wait()
