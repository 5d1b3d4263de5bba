"""One LISTEN connection per process: read the new rows of `ops.events` once, fan them out.

The table is the truth; a read happens every `poll_seconds` (the ledger's trigger does not
NOTIFY: a notifying commit holds the server-wide notify lock and serialised the ledger), at
once on a `pg_notify` (`publish` sends one), and after every reconnect, so nothing committed
while the connection was down is lost.

Ids come from one sequence and are drawn before commit, so a transaction can commit a lower
id after a higher one was read (two users' transfers, a user's transfers in two assets, an
announcement beside a transfer). Handing the higher one over first would move a client's
resume cursor past the lower one, which it would then never receive. So events go out in id
order only: an event waits while an id below it may still commit. Which ids may, the listener
proves from snapshots, read in the same statement as the rows: `ops.next_event_id()` gives a
transaction its xid before its id, so when a read sees id `n` committed, every missing id
below `n` belongs to a transaction that was running at that read (in its snapshot's `xip`) or
rolled back. Once a later snapshot shows all of those finished, a missing id that still is
not there never will be (a rollback), and the events above it go out. A transaction that
holds an id longer than `gap_seconds` is passed over (its event, if it commits, then goes
out late, out of order): one stuck transaction must not stop every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.realtime.hub import EventHub
from services.realtime.schemas import NOTIFY_CHANNEL, Event, event_of

log = logging.getLogger(__name__)

# New rows and the ids still awaited, with the statement's snapshot as one more row: the
# rows and the snapshot must be the same moment for the proof above.
_READ = (
    "SELECT * FROM ("
    " SELECT id, user_id, channel, type, data::text, created_at, NULL::text AS snapshot"
    "   FROM ops.events WHERE id > $1 OR id = ANY($2::bigint[])"
    "  ORDER BY id LIMIT $3) e"
    " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, pg_current_snapshot()::text"
)
_NEWEST = "SELECT coalesce(max(id), 0), pg_current_snapshot()::text FROM ops.events"
_BATCH = 5_000
_GAP_RECHECK = 0.01


@dataclass(frozen=True)
class Snapshot:
    """`pg_current_snapshot()`: xids below `xmin` have ended, from `xmax` on had not begun, and
    `xip` were running."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def ended(self, xids: frozenset[int]) -> bool:
        """Whether every one of `xids` (running at an earlier snapshot) has ended by this one."""
        return all(x < self.xmin or (x < self.xmax and x not in self.xip) for x in xids)


@dataclass
class _Missing:
    """An id below one already read: its transaction is among `running` (or rolled back)."""

    running: frozenset[int]
    since: float


class EventListener:
    def __init__(
        self,
        dsn: str,
        hub: EventHub,
        *,
        server_settings: dict[str, str] | None = None,
        poll_seconds: float = 0.025,
        gap_seconds: float = 5.0,
        reconnect_seconds: float = 0.5,
    ) -> None:
        self._dsn = dsn
        self._hub = hub
        self._server_settings = server_settings or {}
        self._poll = poll_seconds
        self._gap = gap_seconds
        self._reconnect = reconnect_seconds
        self._wake = asyncio.Event()
        # Every id below `_next` was handed over or passed over; `_top` is the highest read;
        # `_held` the events read but waiting for a lower id; `_missing` the ids below `_top`
        # not read yet. `None` until the first read of a new process.
        self._next: int | None = None
        self._top = 0
        self._held: dict[int, Event] = {}
        self._missing: dict[int, _Missing] = {}
        # A new process hands over ids above the newest it saw first, once the transactions
        # running then have ended (one of them may hold a lower id, which a resume reads from
        # the table): until then `ready` is not sent.
        self._startup: Snapshot | None = None
        self._conn: asyncpg.Connection | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.passed_over = 0
        self.reads = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: (re)connect, LISTEN, read after every wake-up; a lost connection is
        reconnected and the rows committed meanwhile are read from the table."""
        while not stop.is_set():
            try:
                await self._session(stop)
            # Whatever broke the session (a lost server, a failover, a protocol error), the
            # next one starts from the table, so nothing committed meanwhile is lost.
            except Exception as exc:
                self.connected.clear()
                if stop.is_set():
                    return
                self.reconnects += 1
                log.warning("realtime listener lost its connection (%r); reconnecting", exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._reconnect):
                        await stop.wait()

    async def _session(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, server_settings=self._server_settings
        )
        self._conn = conn
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            if self._next is None:
                newest, snapshot = await conn.fetchrow(_NEWEST)
                self._top = int(newest)
                self._next = self._top + 1
                self._startup = Snapshot.parse(snapshot)
            while not stop.is_set():
                # Cleared before reading: a notify that lands during the read wakes the next.
                self._wake.clear()
                await self._read(conn)
                waits = {asyncio.ensure_future(e.wait()) for e in (self._wake, stop, lost)}
                # Events held behind an uncommitted id: that transaction is most likely
                # committing right now, so look again soon rather than a whole poll later.
                pause = min(self._poll, _GAP_RECHECK) if self._missing else self._poll
                try:
                    await asyncio.wait(waits, timeout=pause, return_when="FIRST_COMPLETED")
                finally:
                    for waiting in waits:
                        waiting.cancel()
                if lost.is_set():
                    raise ConnectionResetError("the LISTEN connection was closed")
        finally:
            self._conn = None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await conn.close()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Read now rather than at the next poll (a wake-up from outside PostgreSQL)."""
        self._wake.set()

    async def _read(self, conn: asyncpg.Connection) -> None:
        while True:
            rows = await conn.fetch(_READ, self._top, list(self._missing), _BATCH)
            snapshot = Snapshot.parse(rows[-1][6])
            events = [event_of(row[:6]) for row in rows[:-1]]
            self._take(events, snapshot, now=time.monotonic())
            self.reads += 1
            if len(events) < _BATCH:
                return

    def _take(self, events: list[Event], snapshot: Snapshot, *, now: float) -> None:
        """Note what arrived and what is missing below it, then hand over, in id order, every
        event no missing id can still precede."""
        assert self._next is not None
        late: list[Event] = []
        for event in events:
            if self._missing.pop(event.id, None) is None and event.id < self._next:
                late.append(event)  # passed over earlier; better late than never
                continue
            if event.id > self._top:
                for missing in range(max(self._top + 1, self._next), event.id):
                    self._missing[missing] = _Missing(snapshot.xip, now)
                self._top = event.id
            if event.id >= self._next:
                self._held[event.id] = event
        for missing, why in list(self._missing.items()):
            if missing not in self._held and snapshot.ended(why.running):
                del self._missing[missing]  # rolled back: it will never arrive
        if self._startup is not None and snapshot.ended(self._startup.xip):
            self._startup = None
        if self._startup is None:
            self.connected.set()
        ready = list(late)
        while self._next <= self._top:
            if self._next in self._held:
                event = self._held.pop(self._next)
                ready.append(event)
            elif self._next in self._missing:
                if now - self._missing[self._next].since < self._gap:
                    break
                del self._missing[self._next]
                self.passed_over += 1
                log.warning("realtime: event %d not committed after %.0f s", self._next, self._gap)
            self._next += 1
        if ready:
            self._hub.dispatch(ready)
        if self._startup is None:
            # Every id up to here is final: a resume may read the table up to it.
            self._hub.last_event_id = max(self._hub.last_event_id, self._next - 1)
