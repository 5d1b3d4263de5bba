"""Deliver the outbox through the bot: fair, rate-limited across workers, crash-safe.

Any number of worker processes claim from the same queue; the limits live in the database
(migration 0007), so they hold however many workers run:

- A claim first locks the one `ops.outbox_pace` row, so claims take turns. It reserves one of
  the bot's send slots (`rate_per_second`) for each chat it serves, only slots that start
  within `horizon` seconds, and advances the row past them; every worker waits for its slots.
- From each chat it takes one message (or all of the chat's due transfer notices, sent as one
  summary: `summaries.py`), and only from chats that are free: a claimed chat is held for the
  lease, and the record after the send frees it `per_chat_interval` after Telegram answered,
  so two sends to one chat are a second apart whichever workers make them. Free chats are
  served oldest waiting message first; as a chat offers one message per turn, a backlog
  takes at most one slot a second and never holds the other chats back.
- Claimed messages are `sending` under a lease sized to the claim (the horizon, one send's
  time-out and a margin) and the claim's token. A send that could not start in time is given
  back; a record changes a message only while the token is still its own. A process that
  dies mid-send leaves its lease to expire and another claim retries the message; otherwise
  each message is sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from sqlalchemy import text

from db.database import Database, ServiceTx
from services.i18n import Catalog
from services.notifications.summaries import SUMMARIZED, summary_text
from services.users.service import language_for, mark_bot_blocked

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
PER_CHAT_INTERVAL = 1.0
# How far ahead a claim may reserve send slots; claims come twice per horizon while busy.
HORIZON = 1.0
# A send that takes longer is abandoned (and retried): the lease must outlast it.
SEND_TIMEOUT = 10.0
LEASE_MARGIN = 5.0
# A chat's transfer notices go out at most once per window; those arriving within it wait
# and are sent together as one summary.
SUMMARY_WINDOW = 10.0
# Templates whose `params.html` is the message itself rather than an i18n key's text.
VERBATIM = frozenset({"announcement"})
MAX_SUMMARY = 500


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class RetryAfter:
    seconds: float


@dataclass(frozen=True)
class Blocked:
    reason: str


@dataclass(frozen=True)
class Failed:
    reason: str
    permanent: bool


Outcome = Delivered | RetryAfter | Blocked | Failed


class MessageSender(Protocol):
    async def send_message(
        self, chat_id: int, text: str, reply_markup: dict[str, Any] | None
    ) -> Outcome: ...


@dataclass(frozen=True)
class Claimed:
    id: UUID
    chat_id: int
    user_id: UUID | None
    template: str
    params: dict[str, Any]
    reply_markup: dict[str, Any] | None
    attempts: int
    language: str
    recipient_blocked: bool
    token: UUID
    # On this worker's clock: not before its slot, and not after the lease leaves room.
    send_at: float
    send_by: float


@dataclass(frozen=True)
class Unit:
    """What one claim took from one chat: one message, or transfer notices for one summary."""

    messages: tuple[Claimed, ...]

    @property
    def first(self) -> Claimed:
        return self.messages[0]

    @property
    def ids(self) -> list[UUID]:
        return [m.id for m in self.messages]


_LOCK_PACE = text(
    """
    SELECT c.t AS now, greatest(p.next_slot_at, c.t) AS base
    FROM ops.outbox_pace p, LATERAL (SELECT clock_timestamp() AS t) c
    FOR UPDATE OF p
    """
)

_DUE = """((o.status = 'pending' AND o.next_attempt_at <= :t)
           OR (o.status = 'sending' AND o.locked_until < :t))"""

# The chats with queued messages are found by a skip scan over outbox_chat_queue_idx (one
# index probe per chat, however long its queue); each free chat offers its oldest due message.
_CLAIM = text(
    f"""
    WITH RECURSIVE queued AS (
        (SELECT o.chat_id FROM ops.outbox o
         WHERE o.status IN ('pending', 'sending') ORDER BY o.chat_id LIMIT 1)
        UNION ALL
        SELECT (SELECT o.chat_id FROM ops.outbox o
                WHERE o.status IN ('pending', 'sending') AND o.chat_id > q.chat_id
                ORDER BY o.chat_id LIMIT 1)
        FROM queued q WHERE q.chat_id IS NOT NULL
    ), heads AS (
        SELECT h.id, h.chat_id, h.template = ANY(:summarized) AS summary,
               row_number() OVER (ORDER BY h.created_at, h.id) AS turn
        FROM queued q
        LEFT JOIN ops.outbox_chats p ON p.chat_id = q.chat_id
        CROSS JOIN LATERAL (
            SELECT o.id, o.chat_id, o.template, o.created_at FROM ops.outbox o
            WHERE o.chat_id = q.chat_id AND o.status IN ('pending', 'sending') AND {_DUE}
              AND (o.template <> ALL(:summarized) OR p.summary_after IS NULL
                   OR p.summary_after <= :t)
            ORDER BY o.created_at, o.id LIMIT 1
        ) h
        WHERE q.chat_id IS NOT NULL AND (p.next_send_at IS NULL OR p.next_send_at <= :t)
        ORDER BY turn LIMIT :capacity
    ), picked AS (
        SELECT heads.id, heads.turn FROM heads
        UNION
        SELECT m.id, heads.turn FROM heads CROSS JOIN LATERAL (
            SELECT o.id FROM ops.outbox o
            WHERE heads.summary AND o.chat_id = heads.chat_id
              AND o.status IN ('pending', 'sending') AND {_DUE}
              AND o.template = ANY(:summarized)
            ORDER BY o.created_at, o.id LIMIT :max_summary
        ) m
    ), claimed AS (
        UPDATE ops.outbox o
        SET status = 'sending', attempts = o.attempts + 1, claim_token = :token,
            locked_until = CAST(:t AS timestamptz) + make_interval(secs => :lease)
        FROM picked
        WHERE o.id = picked.id AND {_DUE}
        RETURNING o.id, o.chat_id, o.user_id, o.template, o.params, o.reply_markup, o.attempts,
                  o.created_at, picked.turn
    )
    SELECT c.*, u.language, u.language_code, u.bot_blocked_at IS NOT NULL AS blocked
    FROM claimed c LEFT JOIN auth.users u ON u.id = c.user_id
    """
)

_HOLD_CHATS = text(
    """
    INSERT INTO ops.outbox_chats AS p (chat_id, next_send_at, holder, summary_after)
    SELECT x.chat_id, CAST(:t AS timestamptz) + make_interval(secs => :lease), :token,
           CASE WHEN x.summary THEN CAST(:t AS timestamptz) + make_interval(secs => :window) END
    FROM unnest(CAST(:chats AS bigint[]), CAST(:summaries AS boolean[])) AS x(chat_id, summary)
    ON CONFLICT (chat_id) DO UPDATE
    SET next_send_at = excluded.next_send_at, holder = excluded.holder,
        summary_after = coalesce(excluded.summary_after, p.summary_after)
    """
)

# The slots are placed from the time the claim is done, not when it began: a worker counts
# its waits from the moment it has the answer, so the claim's own duration would otherwise
# make its sends late and bunch them with the next claim's.
_RESERVE = text(
    """
    WITH c AS (SELECT clock_timestamp() AS t)
    UPDATE ops.outbox_pace p
    SET next_slot_at = greatest(p.next_slot_at, c.t) + make_interval(secs => :reserved)
    FROM c
    RETURNING extract(epoch FROM p.next_slot_at - c.t) - :reserved AS first_slot
    """
)

_FREE_CHAT = text(
    """
    UPDATE ops.outbox_chats SET next_send_at = now() + make_interval(secs => :gap), holder = NULL
    WHERE chat_id = :chat AND holder = :token
    """
)

# Every record is guarded by the claim token: a message re-claimed after its lease ran out
# belongs to the newer claim.
_MINE = "id = ANY(:ids) AND claim_token = :token AND status = 'sending'"
_SENT = text(
    "UPDATE ops.outbox SET status = 'sent', sent_at = now(), locked_until = NULL,"
    f" last_error = NULL WHERE {_MINE}"
)
_BLOCKED = text(
    "UPDATE ops.outbox SET status = 'blocked', locked_until = NULL, last_error = :reason"
    f" WHERE {_MINE} OR (chat_id = :chat AND status = 'pending')"
)
# A flood wait is not the message's fault: it does not use up an attempt. Telegram counts
# the bot as a whole, so every worker's next slot moves past the wait.
_FLOOD_WAIT = text(
    "UPDATE ops.outbox SET status = 'pending', attempts = attempts - 1, locked_until = NULL,"
    " claim_token = NULL, last_error = 'retry_after',"
    f" next_attempt_at = now() + make_interval(secs => :delay) WHERE {_MINE}"
)
_PAUSE_ALL = text(
    "UPDATE ops.outbox_pace"
    " SET next_slot_at = greatest(next_slot_at, now() + make_interval(secs => :delay))"
)
_FAILED = text(
    f"""
    UPDATE ops.outbox
    SET status = CASE WHEN :permanent OR attempts >= {MAX_ATTEMPTS} THEN 'failed'
                      ELSE 'pending' END,
        locked_until = NULL, claim_token = NULL, last_error = :reason,
        next_attempt_at = now() + make_interval(secs => power(2, attempts)::double precision)
    WHERE {_MINE}
    """
)
# Claimed but not sent (a flood wait began, or the lease no longer leaves room): back to the
# queue as if never claimed.
_GIVE_BACK = text(
    "UPDATE ops.outbox SET status = 'pending', attempts = attempts - 1, locked_until = NULL,"
    f" claim_token = NULL WHERE {_MINE}"
)


@dataclass
class OutboxDelivery:
    db: Database
    sender: MessageSender
    catalog: Catalog
    rate_per_second: int = 30
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    horizon: float = HORIZON
    per_chat_interval: float = PER_CHAT_INTERVAL
    summary_window: float = SUMMARY_WINDOW
    send_timeout: float = SEND_TIMEOUT
    _paused_until: float = field(init=False, default=0.0)

    @property
    def lease(self) -> float:
        return self.horizon + self.send_timeout + LEASE_MARGIN

    async def claim(self, limit: int = 100) -> list[Claimed]:
        """Lease due messages from at most `limit` free chats, each with its send slot."""
        started = self.clock()
        if started < self._paused_until:
            return []
        token = uuid4()
        async with self.db.service() as session:
            pace = (await session.execute(_LOCK_PACE)).one()
            room = (pace.now + timedelta(seconds=self.horizon) - pace.base).total_seconds()
            capacity = min(limit, math.floor(room * self.rate_per_second + 1e-6))
            if capacity <= 0:
                return []
            rows = (
                await session.execute(
                    _CLAIM,
                    {
                        "t": pace.now,
                        "capacity": capacity,
                        "summarized": list(SUMMARIZED),
                        "max_summary": MAX_SUMMARY,
                        "token": token,
                        "lease": self.lease,
                    },
                )
            ).all()
            if not rows:
                return []
            await self._hold(session, rows, pace.now, token)
            turns = {turn: slot for slot, turn in enumerate(sorted({r.turn for r in rows}))}
            reserved = len(turns) / self.rate_per_second
            reply = await session.execute(_RESERVE, {"reserved": reserved})
            first_slot = float(reply.scalar_one())
        claimed_at = self.clock()
        # The lease began after `started` (it is measured from the database's time once the
        # pace row was ours), so a send begun by `send_by` ends inside it.
        send_by = started + self.lease - self.send_timeout - LEASE_MARGIN / 2
        log.debug("claimed %d messages for %d chats", len(rows), len(turns))
        rows = sorted(rows, key=lambda r: (r.turn, r.created_at))
        return [
            Claimed(
                id=r.id,
                chat_id=r.chat_id,
                user_id=r.user_id,
                template=r.template,
                params=r.params,
                reply_markup=r.reply_markup,
                attempts=r.attempts,
                language=language_for(r.language, r.language_code),
                recipient_blocked=bool(r.blocked),
                token=token,
                send_at=claimed_at + first_slot + turns[r.turn] / self.rate_per_second,
                send_by=send_by,
            )
            for r in rows
        ]

    async def _hold(
        self, session: ServiceTx, rows: Sequence[Any], now: datetime, token: UUID
    ) -> None:
        summaries: dict[int, bool] = {}
        for r in rows:
            summaries[r.chat_id] = summaries.get(r.chat_id, False) or r.template in SUMMARIZED
        await session.execute(
            _HOLD_CHATS,
            {
                "t": now,
                "lease": self.lease,
                "token": token,
                "window": self.summary_window,
                "chats": list(summaries),
                "summaries": list(summaries.values()),
            },
        )

    async def run_once(self, limit: int = 100) -> int:
        """Claim once and deliver what was claimed; returns how many messages were claimed."""
        claimed = await self.claim(limit)
        await asyncio.gather(*(self.deliver(unit) for unit in units_of(claimed)))
        return len(claimed)

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        """Claim twice per horizon while there is work; sends run while the next claim is made."""
        sending: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            units: list[Unit] = []
            if len(sending) < 4 * self.rate_per_second:
                try:
                    units = units_of(await self.claim())
                except Exception:
                    log.exception("outbox claim failed; retrying")
            for unit in units:
                task = asyncio.create_task(self._deliver_logged(unit))
                sending.add(task)
                task.add_done_callback(sending.discard)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.horizon / 2 if units else idle_seconds):
                    await stop.wait()
        await asyncio.gather(*sending, return_exceptions=True)

    async def _deliver_logged(self, unit: Unit) -> None:
        try:
            await self.deliver(unit)
        except Exception:
            # The lease runs out and another claim retries the message.
            log.exception("outbox delivery to chat %s failed", unit.first.chat_id)

    async def deliver(self, unit: Unit) -> None:
        first = unit.first
        wait = first.send_at - self.clock()
        if wait > 0:
            await self.sleep(wait)
        if first.recipient_blocked:
            await self.record(unit, Blocked("recipient has blocked the bot"))
            return
        if self.clock() > first.send_by or self.clock() < self._paused_until:
            await self._give_back(unit)
            return
        outcome = await self._send(unit)
        if isinstance(outcome, RetryAfter):
            self._paused_until = max(self._paused_until, self.clock() + outcome.seconds)
        await self.record(unit, outcome)

    async def _send(self, unit: Unit) -> Outcome:
        first = unit.first
        try:
            if len(unit.messages) > 1:
                params = [m.params for m in unit.messages]
                body, markup = summary_text(self.catalog, first.language, params), None
            elif first.template in VERBATIM:
                # An admin's own text, already Telegram HTML (services/announcements).
                body, markup = str(first.params["html"]), first.reply_markup
            else:
                body = self.catalog.get(first.language, first.template, **first.params)
                markup = first.reply_markup
        except (KeyError, ValueError, IndexError) as exc:
            return Failed(f"cannot render {first.template}: {exc!r}", permanent=True)
        try:
            async with asyncio.timeout(self.send_timeout):
                return await self.sender.send_message(first.chat_id, body, markup)
        except TimeoutError:
            return Failed("Telegram did not answer in time", permanent=False)

    async def record(self, unit: Unit, outcome: Outcome) -> None:
        first = unit.first
        mine = {"ids": unit.ids, "token": first.token}
        # After a call the chat waits its interval; a blocked chat is never called again.
        gap = 0.0 if isinstance(outcome, Blocked) else self.per_chat_interval
        async with self.db.service() as session:
            if isinstance(outcome, Delivered):
                await session.execute(_SENT, mine)
            elif isinstance(outcome, Blocked):
                # Everything queued for this chat is blocked too: recorded without calls.
                await session.execute(
                    _BLOCKED, {**mine, "chat": first.chat_id, "reason": outcome.reason}
                )
                if first.user_id is not None:
                    await mark_bot_blocked(session, first.user_id)
            elif isinstance(outcome, RetryAfter):
                # The pace row first, as a claim takes its locks: pace, messages, chats.
                await session.execute(_PAUSE_ALL, {"delay": outcome.seconds})
                await session.execute(_FLOOD_WAIT, {**mine, "delay": outcome.seconds})
            else:
                await session.execute(
                    _FAILED, {**mine, "permanent": outcome.permanent, "reason": outcome.reason}
                )
            await session.execute(
                _FREE_CHAT, {"chat": first.chat_id, "token": first.token, "gap": gap}
            )

    async def _give_back(self, unit: Unit) -> None:
        first = unit.first
        async with self.db.service() as session:
            await session.execute(_GIVE_BACK, {"ids": unit.ids, "token": first.token})
            await session.execute(
                _FREE_CHAT, {"chat": first.chat_id, "token": first.token, "gap": 0.0}
            )


def units_of(claimed: Sequence[Claimed]) -> list[Unit]:
    """A claim's messages per chat, in slot order (a claim takes one unit per chat)."""
    by_chat: dict[int, list[Claimed]] = {}
    for message in claimed:
        by_chat.setdefault(message.chat_id, []).append(message)
    return [Unit(tuple(messages)) for messages in by_chat.values()]
