"""The users this process resolved, kept until the database says they changed.

A Mini App request names its user by Telegram id; resolving it costs a database read (the
largest part of `GET /me`). `IdentityCache` answers repeat requests from memory, on one
condition (issue 9): a ban or a profile change must hold in every instance within a second.

How it holds:

- Every UPDATE or DELETE of `auth.users` sends `pg_notify('gv_identity', telegram_id)` at
  commit (the trigger `users_notify_changed`, migration 0009). Each process LISTENs on one
  connection of its own and evicts that user, so the next request reads the new row.
- A row is remembered only if no notification for that user arrived while it was being read:
  a read that began before a change committed can never be cached after its eviction passed.
- The cache is trusted only while its listener has proved itself lately: the listener sends
  `SELECT 1` every `heartbeat` seconds, and the cache is used until `trust` seconds after the
  last answered one was *sent*. PostgreSQL sends a listener its pending notifications before it
  answers a query, so once an answer is in, every change committed before its query was sent
  has been evicted. A change is therefore seen within `trust` seconds (plus the event loop's
  turn), however the connection fails, half-open TCP included; when the heartbeat stops, the
  cache is bypassed (every request reads the database, as without it), and on a new listener
  connection it starts empty, since notifications may have been missed in between. While the
  connection lives none is lost, only delayed: a late answer renews the trust from when it was
  asked, with everything cached still vouched for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from db.database import Database
from db.models import User
from services.users.schemas import Door, Origin, TelegramProfile
from services.users.service import (
    OnCreated,
    Registration,
    is_current,
    resolve_telegram_user,
    seen_lately,
)

log = logging.getLogger(__name__)

CHANNEL = "gv_identity"
HEARTBEAT_SECONDS = 0.2
# Below the second, with room for the event loop's turn under load.
TRUST_SECONDS = 0.8
_RECONNECT_SECONDS = 0.5
_GIVE_UP_SECONDS = 10.0
# Named, so statement counts (bench.http.roundtrips) can tell it from a request's own.
HEARTBEAT = "SELECT 1 AS identity_heartbeat"


class IdentityCache:
    """`resolve()` is `resolve_telegram_user` answered from memory when it safely can.

    Without a `dsn` (or before `start()`) it is never trusted: every call reads the database.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        size: int = 10_000,
        heartbeat: float = HEARTBEAT_SECONDS,
        trust: float = TRUST_SECONDS,
        application_name: str = "goodvibe-identity",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dsn = dsn
        self._size = size
        self._heartbeat = heartbeat
        self._trust = trust
        self._application_name = application_name
        self._clock = clock
        # The user, with the profile and admin ids it was last found current for: initData's
        # cache hands out the same profile object for the same signed string, so the usual
        # check is `is` and the last_seen_at clock.
        self._users: dict[int, tuple[User, TelegramProfile, frozenset[int]]] = {}
        # The same users by lowercased username and by id, for `find`: kept exactly as long
        # as their entry in `_users`.
        self._by_name: dict[str, int] = {}
        self._by_id: dict[UUID, int] = {}
        # Reads under way per user, and the users notified while one was: such a read may
        # have seen the row before the change, so it is not remembered. `_generation` moves
        # when everything is forgotten, for reads that began before.
        self._reading: dict[int, int] = {}
        self._changed: set[int] = set()
        self._generation = 0
        self._trusted_until = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._lost = False

    @property
    def trusted(self) -> bool:
        return self._clock() < self._trusted_until

    def __len__(self) -> int:
        return len(self._users)

    async def resolve(
        self,
        db: Database,
        profile: TelegramProfile,
        *,
        admin_ids: frozenset[int],
        origin: Origin,
        on_created: Sequence[OnCreated] = (),
    ) -> Registration:
        """As `resolve_telegram_user`; a known, unchanged user costs no database work."""
        via_bot = origin.door is Door.BOT
        if self.trusted:
            entry = self._users.get(profile.telegram_id)
            if entry is not None:
                user, seen, admins = entry
                if seen is profile and admins is admin_ids and not via_bot:
                    if seen_lately(user):
                        return Registration(user, False)
                elif is_current(user, profile, admin_ids=admin_ids, via_bot=via_bot):
                    self._users[profile.telegram_id] = (user, profile, admin_ids)
                    return Registration(user, False)
        telegram_id, generation = profile.telegram_id, self._generation
        self._reading[telegram_id] = self._reading.get(telegram_id, 0) + 1
        try:
            registration = await resolve_telegram_user(
                db, profile, admin_ids=admin_ids, origin=origin, on_created=on_created
            )
        finally:
            changed = self._read_done(telegram_id)
        if not changed and generation == self._generation and self.trusted:
            self._remember(registration.user, profile, admin_ids)
        return registration

    def find(self, column: str, value: object) -> User | None:
        """The live user a reference names (`column` one of `telegram_id`, `username`
        lowercased, `id`), if this process has them cached and may trust it; None: read it.

        A P2P send names its recipient this way; the same notifications that keep a signed-in
        user's ban current keep a recipient's (their ban, deletion or new username) within
        `trust` seconds."""
        if not self.trusted:
            return None
        if column == "telegram_id":
            telegram_id = value if isinstance(value, int) else None
        elif column == "username":
            telegram_id = self._by_name.get(str(value))
        else:
            telegram_id = self._by_id.get(value) if isinstance(value, UUID) else None
        entry = self._users.get(telegram_id) if telegram_id is not None else None
        if entry is None or entry[0].deleted_at is not None:
            return None
        return entry[0]

    def _read_done(self, telegram_id: int) -> bool:
        """Whether the user was notified as changed while a read of them was under way."""
        left = self._reading.pop(telegram_id) - 1
        changed = telegram_id in self._changed
        if left:
            self._reading[telegram_id] = left
        else:
            self._changed.discard(telegram_id)
        return changed

    def _remember(self, user: User, profile: TelegramProfile, admin_ids: frozenset[int]) -> None:
        self._drop(user.telegram_id)
        if len(self._users) >= self._size:
            self._drop(next(iter(self._users)))
        self._users[user.telegram_id] = (user, profile, admin_ids)
        self._by_id[user.id] = user.telegram_id
        if user.username:
            self._by_name[user.username.lower()] = user.telegram_id

    def _drop(self, telegram_id: int) -> None:
        entry = self._users.pop(telegram_id, None)
        if entry is None:
            return
        user = entry[0]
        self._by_id.pop(user.id, None)
        if user.username and self._by_name.get(user.username.lower()) == telegram_id:
            del self._by_name[user.username.lower()]

    def _evict(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            telegram_id = int(payload)
        except ValueError:
            self._forget()  # not ours to parse: assume the worst
            return
        self._drop(telegram_id)
        if telegram_id in self._reading:
            self._changed.add(telegram_id)

    def _forget(self) -> None:
        """Nothing cached so far can be vouched for."""
        self._trusted_until = float("-inf")
        self._generation += 1
        self._users.clear()
        self._by_name.clear()
        self._by_id.clear()

    async def start(self) -> None:
        """Start listening (in the background; the cache is trusted once the listener is)."""
        if self._dsn is not None and self._task is None:
            self._task = asyncio.create_task(self._listen_forever(self._dsn))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._forget()

    async def _listen_forever(self, dsn: str) -> None:
        while True:
            try:
                await self._listen(dsn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if not self._lost:
                    log.warning("identity cache bypassed: its listener failed (%r)", exc)
                self._lost = True
            self._forget()
            await asyncio.sleep(_RECONNECT_SECONDS)

    async def _listen(self, dsn: str) -> None:
        conn = await asyncpg.connect(
            dsn, timeout=5, server_settings={"application_name": self._application_name}
        )
        try:
            conn.add_termination_listener(lambda _conn: self._forget())
            await conn.add_listener(CHANNEL, self._evict)
            # Whatever was cached before this LISTEN may have missed a notification.
            self._forget()
            if self._lost:
                log.info("identity cache listening again")
                self._lost = False
            while True:
                sent = self._clock()
                # A slow answer (a busy loop or server) only lets the trust lapse: the cache
                # is bypassed meanwhile, and the connection, which loses no notification while
                # it lives, stays. One that does not answer at all is given up.
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancel that
                # lands as the heartbeat returns, and `close()` then waits for ever.
                async with asyncio.timeout(_GIVE_UP_SECONDS):
                    await conn.fetchval(HEARTBEAT)
                self._trusted_until = sent + self._trust
                await asyncio.sleep(self._heartbeat)
        finally:
            self._forget()
            conn.terminate()
