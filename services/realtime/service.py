"""The event log: publish an event in the caller's transaction, read a stream back for a resume."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx
from services.realtime.hub import EventHub
from services.realtime.listener import EventListener
from services.realtime.presence import Presence
from services.realtime.schemas import NOTIFY_CHANNEL, Channel, Event, event_of
from services.realtime.wakeups import RedisWakeups

# At most this many events are replayed to one resume; a client further behind reloads.
MAX_REPLAY = 5_000

_PUBLISH = text(
    "WITH e AS (INSERT INTO ops.events (user_id, channel, type, data)"
    " VALUES (:user_id, :channel, :type, CAST(:data AS jsonb)) RETURNING id)"
    " SELECT id, pg_notify(:notify, id::text) FROM e"
)
# One statement, one snapshot: a purge committing between reading the horizon and the rows
# would otherwise pass a stream with a hole as whole.
_AFTER = text(
    "SELECT h.purged_through, e.id, e.user_id, e.channel, e.type, e.data, e.created_at"
    " FROM ops.events_horizon h LEFT JOIN LATERAL ("
    "   SELECT * FROM ops.events"
    "    WHERE id > :after AND id <= :through AND (user_id = :user_id OR user_id IS NULL)"
    "    ORDER BY id LIMIT :limit) e ON true"
    " ORDER BY e.id"
)


async def publish(
    session: ServiceTx,
    channel: Channel,
    type_: str,
    data: Mapping[str, Any],
    *,
    user_id: UUID | None = None,
) -> int:
    """Write an event in the caller's transaction; listeners wake when it commits, never if it
    rolls back. `user_id` is required for `user` and refused for `announcements` (a CHECK)."""
    row = (
        await session.execute(
            _PUBLISH,
            {
                "user_id": user_id,
                "channel": channel,
                "type": type_,
                "data": json.dumps(data),
                "notify": NOTIFY_CHANNEL,
            },
        )
    ).one()
    return int(row[0])


_PUBLISH_MANY = text(
    "INSERT INTO ops.events (user_id, channel, type, data)"
    " SELECT x.user_id, 'user', x.type, x.data FROM jsonb_to_recordset(CAST(:events AS jsonb))"
    " AS x(user_id uuid, type text, data jsonb)"
)


async def publish_many(
    session: ServiceTx, events: Sequence[tuple[UUID, str, Mapping[str, Any]]]
) -> None:
    """`publish` for several events on users' own channels, (user_id, type, data) each, in one
    statement (a purchase tells its buyer and up to eight referrers at once). Without a NOTIFY,
    like the ledger's own events: a notifying commit takes the server's notify-queue lock,
    which would serialise purchases; the listeners' poll (`REALTIME_POLL_MS`) delivers them."""
    if not events:
        return
    rows = [{"user_id": str(u), "type": t, "data": dict(d)} for u, t, d in events]
    await session.execute(_PUBLISH_MANY, {"events": json.dumps(rows, default=str)})


async def events_after(
    session: ServiceTx, user_id: UUID, after: int, through: int, *, limit: int = MAX_REPLAY
) -> list[Event] | None:
    """The user's stream after `after` up to `through` (the listener's `hub.last_event_id`:
    above it an id may still commit late, and the live feed brings those), oldest first; None
    when part of it was already purged (or is more than `limit` events): the client must
    reload its state instead."""
    rows = (
        await session.execute(
            _AFTER,
            {"after": after, "through": through, "user_id": user_id, "limit": limit + 1},
        )
    ).all()
    if after < int(rows[0][0]) or len(rows) > limit:
        return None
    return [event_of(row[1:]) for row in rows if row[1] is not None]


@dataclass(frozen=True)
class Realtime:
    """What the doors share for realtime: this process's subscribers and its listener."""

    hub: EventHub
    listener: EventListener
    retention_seconds: float
    # The connection table: the per-user cap across instances, and presence.
    presence: Presence = field(default_factory=Presence)
    # With `REDIS_URL`: the ledger's wake-ups (the listener also keeps polling).
    wakeups: RedisWakeups | None = None
