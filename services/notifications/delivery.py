"""Deliver the outbox through the bot: rate-limited, crash-safe, once under normal operation.

A batch is claimed with FOR UPDATE SKIP LOCKED and marked `sending` with a lease, then sent
outside any transaction. A process that dies mid-send leaves its lease to expire and another
claim retries the message; otherwise each message is marked `sent` right after Telegram
accepts it, so it is never claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from aiolimiter import AsyncLimiter
from sqlalchemy import text

from db.database import Database
from services.i18n import Catalog
from services.users.service import language_for

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE_SECONDS = 60
PER_CHAT_INTERVAL = 1.0


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


_CLAIM = text(
    """
    WITH due AS (
        SELECT o.id, u.language, u.language_code, u.bot_blocked_at IS NOT NULL AS blocked
        FROM ops.outbox o
        LEFT JOIN auth.users u ON u.id = o.user_id
        WHERE (o.status = 'pending' AND o.next_attempt_at <= now())
           OR (o.status = 'sending' AND o.locked_until < now())
        ORDER BY o.next_attempt_at, o.created_at
        LIMIT :limit
        FOR UPDATE OF o SKIP LOCKED
    )
    UPDATE ops.outbox o
    SET status = 'sending', attempts = o.attempts + 1,
        locked_until = now() + make_interval(secs => :lease)
    FROM due
    WHERE o.id = due.id
    RETURNING o.id, o.chat_id, o.user_id, o.template, o.params, o.reply_markup, o.attempts,
              o.created_at, due.language, due.language_code, due.blocked
    """
)


@dataclass
class OutboxDelivery:
    db: Database
    sender: MessageSender
    catalog: Catalog
    rate_per_second: int = 30
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _limiter: AsyncLimiter = field(init=False)
    _chat_next: dict[int, float] = field(init=False, default_factory=dict)
    _paused_until: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._limiter = AsyncLimiter(self.rate_per_second, 1)

    async def claim(self, limit: int) -> list[Claimed]:
        async with self.db.service() as session:
            rows = (await session.execute(_CLAIM, {"limit": limit, "lease": LEASE_SECONDS})).all()
        rows = sorted(rows, key=lambda r: r.created_at)
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
            )
            for r in rows
        ]

    async def run_once(self, limit: int = 100) -> int:
        """Claim and deliver one batch; returns how many messages were claimed."""
        claimed = await self.claim(limit)
        by_chat: dict[int, list[Claimed]] = defaultdict(list)
        for message in claimed:
            by_chat[message.chat_id].append(message)
        await asyncio.gather(*(self._deliver_chat(messages) for messages in by_chat.values()))
        return len(claimed)

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 0.5) -> None:
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("outbox delivery failed; retrying")
                claimed = 0
            if claimed == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)

    async def _deliver_chat(self, messages: Sequence[Claimed]) -> None:
        for message in messages:
            outcome = await self._send(message)
            await self._record(message, outcome)
            if isinstance(outcome, Blocked):
                # Everything else queued for this chat is blocked too; record them without calls.
                for rest in messages[messages.index(message) + 1 :]:
                    await self._record(rest, outcome)
                return

    async def _send(self, message: Claimed) -> Outcome:
        if message.recipient_blocked:
            return Blocked("recipient has blocked the bot")
        wait = max(self._chat_next.get(message.chat_id, 0.0), self._paused_until) - self.clock()
        if wait > 0:
            await self.sleep(wait)
        async with self._limiter:
            body = self.catalog.get(message.language, message.template, **message.params)
            outcome = await self.sender.send_message(message.chat_id, body, message.reply_markup)
        self._chat_next[message.chat_id] = self.clock() + PER_CHAT_INTERVAL
        if isinstance(outcome, RetryAfter):
            # Flood control: hold back every chat, Telegram counts the bot as a whole.
            self._paused_until = max(self._paused_until, self.clock() + outcome.seconds)
        return outcome

    async def _record(self, message: Claimed, outcome: Outcome) -> None:
        async with self.db.service() as session:
            if isinstance(outcome, Delivered):
                await session.execute(
                    text(
                        "UPDATE ops.outbox SET status = 'sent', sent_at = now(),"
                        " locked_until = NULL, last_error = NULL WHERE id = :id"
                    ),
                    {"id": message.id},
                )
            elif isinstance(outcome, Blocked):
                await session.execute(
                    text(
                        "UPDATE ops.outbox SET status = 'blocked', locked_until = NULL,"
                        " last_error = :reason WHERE id = :id"
                    ),
                    {"id": message.id, "reason": outcome.reason},
                )
                if message.user_id is not None:
                    await session.execute(
                        text(
                            "UPDATE auth.users SET bot_blocked_at = now()"
                            " WHERE id = :id AND bot_blocked_at IS NULL"
                        ),
                        {"id": message.user_id},
                    )
            else:
                await session.execute(*_retry_or_fail(message, outcome))


def _retry_or_fail(message: Claimed, outcome: RetryAfter | Failed) -> tuple[Any, dict[str, Any]]:
    if isinstance(outcome, RetryAfter):
        # A flood wait is not the message's fault: it does not use up an attempt.
        return (
            text(
                "UPDATE ops.outbox SET status = 'pending', attempts = attempts - 1,"
                " locked_until = NULL, last_error = 'retry_after',"
                " next_attempt_at = now() + make_interval(secs => :delay) WHERE id = :id"
            ),
            {"id": message.id, "delay": outcome.seconds},
        )
    if outcome.permanent or message.attempts >= MAX_ATTEMPTS:
        return (
            text(
                "UPDATE ops.outbox SET status = 'failed', locked_until = NULL,"
                " last_error = :reason WHERE id = :id"
            ),
            {"id": message.id, "reason": outcome.reason},
        )
    return (
        text(
            "UPDATE ops.outbox SET status = 'pending', locked_until = NULL, last_error = :reason,"
            " next_attempt_at = now() + make_interval(secs => :delay) WHERE id = :id"
        ),
        {"id": message.id, "reason": outcome.reason, "delay": float(2**message.attempts)},
    )
