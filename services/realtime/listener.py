"""One LISTEN connection per process: read the new rows of `ops.events` once, fan them out.

The table is the truth; a read happens every `poll_seconds` (the ledger's trigger does not
NOTIFY: a notifying commit holds the server-wide notify lock and serialised the ledger), at
once on a `pg_notify` (`publish` sends one), and after every reconnect, so nothing committed
while the connection was down is lost.

Ids come from one sequence and are taken before commit, so a transaction can commit a
lower id after a higher one was read (two users' transfers, or a user's transfers in two
assets, commit in any order). The listener therefore reads what is newer than the highest id
it handed over, and again each id below it it has not seen yet, until that id arrives or
`gap_seconds` pass (a rolled-back transaction's id never arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from services.realtime.hub import EventHub
from services.realtime.schemas import NOTIFY_CHANNEL, Event, event_of

log = logging.getLogger(__name__)

_NEWER = (
    "SELECT id, user_id, channel, type, data::text, created_at FROM ops.events"
    " WHERE id > $1 ORDER BY id LIMIT $2"
)
_LATE = (
    "SELECT id, user_id, channel, type, data::text, created_at FROM ops.events"
    " WHERE id = ANY($1::bigint[]) ORDER BY id"
)
_NEWEST = "SELECT coalesce(max(id), 0) FROM ops.events"
_BATCH = 5_000


class EventListener:
    def __init__(
        self,
        dsn: str,
        hub: EventHub,
        *,
        server_settings: dict[str, str] | None = None,
        poll_seconds: float = 0.1,
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
        # Every id up to `_low` was handed over or given up; `_top` is the highest handed over;
        # `_missing` the ids between them not seen yet, with when they were first missed.
        self._low: int | None = None
        self._top = 0
        self._missing: dict[int, float] = {}
        self._conn: asyncpg.Connection | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0

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
                    await asyncio.wait_for(stop.wait(), self._reconnect)

    async def _session(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn, server_settings=self._server_settings
        )
        self._conn = conn
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            if self._low is None:
                # A new process hands over what commits from now on; older events are for a
                # client's resume, which reads them from the table.
                self._low = self._top = int(await conn.fetchval(_NEWEST))
                self._hub.last_event_id = max(self._hub.last_event_id, self._low)
            self.connected.set()
            while not stop.is_set():
                # Cleared before reading: a notify that lands during the read wakes the next.
                self._wake.clear()
                await self._read(conn)
                waits = {asyncio.ensure_future(e.wait()) for e in (self._wake, stop, lost)}
                try:
                    await asyncio.wait(waits, timeout=self._poll, return_when="FIRST_COMPLETED")
                finally:
                    for waiting in waits:
                        waiting.cancel()
                if lost.is_set():
                    raise ConnectionResetError("the LISTEN connection was closed")
        finally:
            self._conn = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()

    async def _read(self, conn: asyncpg.Connection) -> None:
        assert self._low is not None
        now = time.monotonic()
        if self._missing:
            late = [event_of(row) for row in await conn.fetch(_LATE, list(self._missing))]
            self._settle(late, now=now)
            if late:
                self._hub.dispatch(late)
        while True:
            rows = await conn.fetch(_NEWER, self._top, _BATCH)
            fresh = [event_of(row) for row in rows]
            self._settle(fresh, now=now)
            if fresh:
                self._hub.dispatch(fresh)
            if len(rows) < _BATCH:
                return

    def _settle(self, events: list[Event], *, now: float) -> None:
        """Note what arrived and what is missing below it; move the low water mark over ids
        that arrived, and over ids missing for `gap_seconds` (a rolled-back transaction's)."""
        assert self._low is not None
        for event in events:
            self._missing.pop(event.id, None)
            if event.id > self._top:
                for missing in range(self._top + 1, event.id):
                    self._missing[missing] = now
                self._top = event.id
        low = self._low
        while low < self._top:
            began = self._missing.get(low + 1)
            if began is not None and now - began < self._gap:
                break
            self._missing.pop(low + 1, None)
            low += 1
        self._low = low
