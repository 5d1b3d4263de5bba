"""Who is connected, across instances: the per-user socket cap and the `presence` channel.

Each instance keeps one row per connected user in `ops.realtime_connections` (its socket
count, and an expiry its heartbeat moves forward), so every instance sees the others' sockets:
a process that dies stops refreshing and its rows stop counting after `ttl` seconds.

`presence` messages are not events: they have no id, are not stored and are not replayed. An
instance sends each of its sockets `{"channel":"presence","type":"presence","data":{"online":
N,"referrals_online":[user ids]}}` after `ready` and every `interval` seconds: how many users
are online, and which of the user's own direct referrals are (never anyone else's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID, uuid4

from sqlalchemy import text

from db import locks
from db.database import Database, ServiceTx


class DirectReferrals(Protocol):
    """The users each of `user_ids` referred directly (their first level), by the referral
    engine's own records. Only ever asked about the signed-in users of this instance."""

    async def __call__(
        self, session: ServiceTx, user_ids: Sequence[UUID]
    ) -> Mapping[UUID, Sequence[UUID]]: ...


async def no_referrals(
    session: ServiceTx, user_ids: Sequence[UUID]
) -> Mapping[UUID, Sequence[UUID]]:
    """The default until the referral engine provides its own: nobody has referrals."""
    return {}


# Its own statement, before the count: a READ COMMITTED statement reads from a snapshot taken
# when it starts, so the count must start after the lock is held. 29300 (0x7274) is
# db.locks.REALTIME_CONNECTIONS (the registry's test reads the literal; an assert below
# keeps the two equal).
_LOCK = text("SELECT pg_advisory_xact_lock(29300, hashtext(CAST(:user_id AS text)))")
assert locks.REALTIME_CONNECTIONS == 29300
_CLAIM = text(
    """
    INSERT INTO ops.realtime_connections AS c (user_id, instance_id, sockets, expires_at)
    SELECT :user_id, :instance, 1, now() + make_interval(secs => :ttl)
     WHERE (SELECT coalesce(sum(sockets), 0) FROM ops.realtime_connections
             WHERE user_id = :user_id AND expires_at > now()) < :cap
    ON CONFLICT (user_id, instance_id) DO UPDATE
       SET sockets = CASE WHEN c.expires_at > now() THEN c.sockets + 1 ELSE 1 END,
           expires_at = EXCLUDED.expires_at
    RETURNING sockets
    """
)
_RELEASE_LAST = text(
    "DELETE FROM ops.realtime_connections"
    " WHERE user_id = :user_id AND instance_id = :instance AND sockets <= 1"
)
_RELEASE = text(
    "UPDATE ops.realtime_connections SET sockets = sockets - 1"
    " WHERE user_id = :user_id AND instance_id = :instance AND sockets > 1"
)
# The instance's rows become what its hub holds (healing any drift), with a new expiry.
_REFRESH = text(
    """
    WITH mine AS (
        SELECT key::uuid AS user_id, value::integer AS sockets
          FROM jsonb_each_text(CAST(:counts AS jsonb))
    ), stale AS (
        DELETE FROM ops.realtime_connections c
         WHERE c.instance_id = :instance
           AND NOT EXISTS (SELECT FROM mine WHERE mine.user_id = c.user_id)
    )
    INSERT INTO ops.realtime_connections AS c (user_id, instance_id, sockets, expires_at)
    SELECT user_id, :instance, sockets, now() + make_interval(secs => :ttl) FROM mine
    ON CONFLICT (user_id, instance_id) DO UPDATE
       SET sockets = EXCLUDED.sockets, expires_at = EXCLUDED.expires_at
    """
)
_ONLINE = text(
    """
    SELECT (SELECT count(DISTINCT user_id) FROM ops.realtime_connections
             WHERE expires_at > now()),
           coalesce((SELECT array_agg(DISTINCT user_id) FROM ops.realtime_connections
                      WHERE expires_at > now() AND user_id = ANY(:candidates)), '{}')
    """
)
_EXPIRED = text("DELETE FROM ops.realtime_connections WHERE expires_at < now() - interval '1 h'")


@dataclass(frozen=True)
class PresenceView:
    online: int
    referrals_online: dict[UUID, list[UUID]]

    def message(self, user_id: UUID) -> str:
        return json.dumps(
            {
                "channel": "presence",
                "type": "presence",
                "data": {
                    "online": self.online,
                    "referrals_online": sorted(
                        str(u) for u in self.referrals_online.get(user_id, [])
                    ),
                },
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Presence:
    """This instance's share of the connection table. `cap`: sockets per user across every
    instance; `ttl`: how long a row counts without a heartbeat."""

    cap: int = 5
    ttl: float = 30.0
    interval: float = 10.0
    referrals: DirectReferrals = no_referrals
    instance: UUID = field(default_factory=uuid4)

    async def claim(self, db: Database, user_id: UUID) -> bool:
        """One more socket for `user_id` here, unless the user already has `cap` open across
        every instance."""
        async with db.service() as session:
            await session.execute(_LOCK, {"user_id": str(user_id)})
            row = (
                await session.execute(
                    _CLAIM,
                    {
                        "user_id": user_id,
                        "instance": self.instance,
                        "ttl": self.ttl,
                        "cap": self.cap,
                    },
                )
            ).one_or_none()
        return row is not None

    async def release(self, db: Database, user_id: UUID) -> None:
        mine = {"user_id": user_id, "instance": self.instance}
        async with db.service() as session:
            await session.execute(_RELEASE_LAST, mine)
            await session.execute(_RELEASE, mine)

    async def refresh(self, db: Database, counts: Mapping[UUID, int]) -> None:
        """The heartbeat: this instance's rows are `counts`, alive for another `ttl`."""
        payload = json.dumps({str(user): n for user, n in counts.items() if n > 0})
        async with db.service() as session:
            await session.execute(
                _REFRESH, {"counts": payload, "instance": self.instance, "ttl": self.ttl}
            )
            await session.execute(_EXPIRED)

    async def view(self, db: Database, user_ids: Sequence[UUID]) -> PresenceView:
        """The online count, and for each of `user_ids` which of their direct referrals are
        online: two queries however many users."""
        async with db.service() as session:
            downline = await self.referrals(session, list(user_ids))
            candidates = sorted({r for user in user_ids for r in downline.get(user, ())})
            online, present = (await session.execute(_ONLINE, {"candidates": candidates})).one()
        here = set(present)
        return PresenceView(
            online=int(online),
            referrals_online={
                user: [r for r in downline.get(user, ()) if r in here] for user in user_ids
            },
        )
