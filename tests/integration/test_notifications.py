from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from sqlalchemy import text

from db.database import Database
from db.models import User
from integrations.telegram.sender import BotMessageSender
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.notifications.delivery import OutboxDelivery
from services.notifications.service import enqueue
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram


class Clock:
    """Virtual time: sleeping advances it, so rate limits are checked without wall-clock waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def delivery(
    db: Database, bot: Bot, catalog: Catalog, clock: Clock
) -> AsyncIterator[OutboxDelivery]:
    yield OutboxDelivery(
        db, BotMessageSender(bot), catalog, rate_per_second=30, clock=clock, sleep=clock.sleep
    )


async def _user(db: Database, telegram_id: int, language: str = "en") -> User:
    async with db.service() as session:
        profile = TelegramProfile(telegram_id=telegram_id, first_name="U", language_code=language)
        return (
            await upsert_from_telegram(session, profile, admin_ids=frozenset(), origin=Origin.bot())
        ).user


async def _notify(db: Database, user: User, body: str, dedup_key: str | None = None) -> None:
    async with db.service() as session:  # only the system enqueues (users may not)
        await enqueue(
            session,
            chat_id=user.telegram_id,
            user_id=user.id,
            template="notify.test",
            params={"text": body},
            dedup_key=dedup_key,
        )


async def _statuses(db: Database) -> dict[str, str]:
    async with db.service() as session:
        rows = (
            await session.execute(text("SELECT params->>'text' AS body, status FROM ops.outbox"))
        ).all()
    return {r.body: r.status for r in rows}


async def _due_now(db: Database) -> None:
    async with db.service() as session:
        await session.execute(
            text("UPDATE ops.outbox SET next_attempt_at = now() WHERE status = 'pending'")
        )


async def _expire_leases(db: Database) -> None:
    """As if the leases (on the messages and on their chats) had run out."""
    async with db.service() as session:
        await session.execute(
            text("UPDATE ops.outbox SET locked_until = now() - interval '1 second'")
        )
        await session.execute(
            text("UPDATE ops.outbox_chats SET next_send_at = now() - interval '1 second'")
        )


async def _until_claimed(delivery: OutboxDelivery, attempts: int = 100) -> int:
    """Claims until something is claimed: a chat is free again a second after its send."""
    for _ in range(attempts):
        if claimed := await delivery.run_once():
            return claimed
        await asyncio.sleep(0.05)
    raise AssertionError("nothing became claimable")


async def test_delivers_once_in_order_one_message_per_chat_per_turn(
    db: Database, delivery: OutboxDelivery, botapi: tuple[BotApiServer, str], clock: Clock
) -> None:
    api, _ = botapi
    ann, bob = await _user(db, 1), await _user(db, 2)
    for body in ("a1", "a2"):
        await _notify(db, ann, body)
    await _notify(db, bob, "b1")
    assert await delivery.run_once() == 2  # one message from each chat
    assert await delivery.run_once() == 0  # chat 1 waits its turn: a second after its send
    assert await _until_claimed(delivery) == 1
    assert await delivery.run_once() == 0
    sent = [(c["chat_id"], c["text"]) for c in api.calls_of("sendMessage")]
    assert sorted(sent) == [("1", "a1"), ("1", "a2"), ("2", "b1")]
    assert [t for c, t in sent if c == "1"] == ["a1", "a2"]
    assert await _statuses(db) == {"a1": "sent", "a2": "sent", "b1": "sent"}


async def test_dedup_key_notifies_once(
    db: Database, delivery: OutboxDelivery, botapi: tuple[BotApiServer, str]
) -> None:
    ann = await _user(db, 1)
    for _ in range(3):
        await _notify(db, ann, "hello", dedup_key="transfer:42")
    await delivery.run_once()
    assert len(botapi[0].calls_of("sendMessage")) == 1


async def test_retry_after_pauses_every_worker_without_using_an_attempt(
    db: Database,
    delivery: OutboxDelivery,
    bot: Bot,
    catalog: Catalog,
    botapi: tuple[BotApiServer, str],
) -> None:
    api, _ = botapi
    ann = await _user(db, 1)
    await _notify(db, ann, "later")
    api.fail_too_many_requests("sendMessage", retry_after=7)
    await delivery.run_once()
    async with db.service() as session:
        row = (
            await session.execute(
                text(
                    "SELECT status, attempts, next_attempt_at - now() > interval '6 seconds'"
                    " AS deferred, (SELECT next_slot_at - now() > interval '6 seconds'"
                    " FROM ops.outbox_pace) AS paused FROM ops.outbox"
                )
            )
        ).one()
    assert (row.status, row.attempts, row.deferred, row.paused) == ("pending", 0, True, True)
    assert await delivery.run_once() == 0  # not due yet
    await _due_now(db)
    other_worker = OutboxDelivery(db, BotMessageSender(bot), catalog)
    assert await other_worker.run_once() == 0  # the flood wait holds every worker back
    async with db.service() as session:  # as if the wait had passed
        await session.execute(text("UPDATE ops.outbox_pace SET next_slot_at = now()"))
    await _expire_leases(db)
    assert await other_worker.run_once() == 1
    assert await _statuses(db) == {"later": "sent"}
    assert len(api.calls_of("sendMessage")) == 2


async def test_blocked_user_is_marked_and_never_retried(
    db: Database, delivery: OutboxDelivery, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    ann = await _user(db, 1)
    api.fail_blocked("sendMessage", chat_id=1)
    await _notify(db, ann, "one")
    await delivery.run_once()
    await _notify(db, ann, "two")
    await delivery.run_once()
    assert len(api.calls_of("sendMessage")) == 1  # the second was not even tried
    assert await _statuses(db) == {"one": "blocked", "two": "blocked"}
    async with db.service() as session:
        assert await session.scalar(
            text("SELECT bot_blocked_at IS NOT NULL FROM auth.users WHERE id = :id"), {"id": ann.id}
        )


async def test_chat_not_found_fails_permanently(
    db: Database, delivery: OutboxDelivery, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    ann = await _user(db, 1)
    api.fail_chat_not_found("sendMessage", chat_id=1)
    await _notify(db, ann, "lost")
    await delivery.run_once()
    await _due_now(db)
    await delivery.run_once()
    assert len(api.calls_of("sendMessage")) == 1
    assert await _statuses(db) == {"lost": "failed"}


async def test_a_crash_mid_send_loses_nothing(
    db: Database, delivery: OutboxDelivery, botapi: tuple[BotApiServer, str]
) -> None:
    ann = await _user(db, 1)
    await _notify(db, ann, "survives")
    claimed = await delivery.claim(10)  # claimed, then the process "dies" before sending
    assert len(claimed) == 1
    assert await delivery.run_once() == 0  # the lease protects it from a double send
    await _expire_leases(db)
    await delivery.run_once()
    assert len(botapi[0].calls_of("sendMessage")) == 1
    assert await _statuses(db) == {"survives": "sent"}


async def test_concurrent_senders_deliver_each_message_once(
    db: Database, bot: Bot, catalog: Catalog, botapi: tuple[BotApiServer, str]
) -> None:
    users = [await _user(db, 100 + i) for i in range(20)]
    for user in users:
        await _notify(db, user, f"m{user.telegram_id}")
    senders = [
        OutboxDelivery(db, BotMessageSender(bot), catalog, rate_per_second=1000) for _ in range(4)
    ]
    await asyncio.gather(*(s.run_once(limit=7) for s in senders))
    while sum(await asyncio.gather(*(s.run_once(limit=7) for s in senders))):
        pass
    texts = [c["text"] for c in botapi[0].calls_of("sendMessage")]
    assert sorted(texts) == sorted(f"m{u.telegram_id}" for u in users)


async def test_message_is_rendered_in_the_recipients_language(
    db: Database, delivery: OutboxDelivery, botapi: tuple[BotApiServer, str], catalog: Catalog
) -> None:
    ivan = await _user(db, 7, language="ru")
    async with db.service() as session:
        await enqueue(session, chat_id=7, user_id=ivan.id, template="error.generic")
    await delivery.run_once()
    assert botapi[0].calls_of("sendMessage")[0]["text"] == catalog.get("ru", "error.generic")
