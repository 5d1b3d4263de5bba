"""Fair delivery: one chat's backlog waits its own turn, transfer notices are summarised, and
a worker that lost its lease cannot overwrite the claim that took the message over."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from aiogram import Bot
from sqlalchemy import text

from db.database import Database
from integrations.telegram.sender import BotMessageSender
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.ledger.schemas import Asset
from services.notifications.delivery import Failed, OutboxDelivery, units_of
from services.notifications.maintenance import purge_delivered
from services.transfers.batcher import SendBatcher
from services.transfers.config import P2PRules
from tests.ledger_helpers import fund, make_user

VIBE = Asset(code="VIBE", name="Good Vibe token", decimals=6, transferable=True)


async def _queue(db: Database, chat_ids: list[int], per_chat: int, *, template: str) -> None:
    """`per_chat` messages for each chat, created in order (texts `<chat>-<n>`)."""
    async with db.service() as session:
        await session.execute(
            text(
                """
                INSERT INTO ops.outbox (chat_id, template, params, created_at)
                SELECT c, :template, jsonb_build_object('text', c || '-' || n),
                       clock_timestamp() + n * interval '1 microsecond'
                FROM unnest(CAST(:chats AS bigint[])) AS c, generate_series(1, :n) AS n
                """
            ),
            {"chats": chat_ids, "n": per_chat, "template": template},
        )


async def _statuses(db: Database) -> dict[str, int]:
    async with db.service() as session:
        rows = (
            await session.execute(text("SELECT status, count(*) AS n FROM ops.outbox GROUP BY 1"))
        ).all()
    return {r.status: r.n for r in rows}


async def _free_chats(db: Database) -> None:
    """As if a second had passed since every chat's last send."""
    async with db.service() as session:
        await session.execute(text("UPDATE ops.outbox_chats SET next_send_at = now()"))


async def test_a_chats_backlog_does_not_delay_other_chats(
    db: Database, bot: Bot, catalog: Catalog, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    busy, others = 1, list(range(100, 150))
    await _queue(db, [busy], 2000, template="notify.test")  # queued first: the oldest
    await _queue(db, others, 1, template="notify.test")
    delivery = OutboxDelivery(db, BotMessageSender(bot), catalog, rate_per_second=30)
    stop = asyncio.Event()
    running = asyncio.create_task(delivery.run_forever(stop, idle_seconds=0.05))
    try:
        for _ in range(1200):  # a guard against a hang, not a measure of speed
            chats = [int(c["chat_id"]) for c in api.calls_of("sendMessage")]
            if set(others) <= set(chats):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    chats = [int(c["chat_id"]) for c in api.calls_of("sendMessage")]
    last_other = max(chats.index(chat) for chat in others)
    # All 50 others went out among the first 50 + 3 sends: the busy chat had one a second.
    assert last_other < 53, chats[: last_other + 1]
    assert chats[: last_other + 1].count(busy) <= 3
    texts = [c["text"] for c in api.calls_of("sendMessage") if c["chat_id"] == str(busy)]
    assert texts == [f"{busy}-{n}" for n in range(1, len(texts) + 1)]  # its own order kept
    assert len(chats) == len(set(c["text"] for c in api.calls_of("sendMessage")))


async def test_a_chats_transfer_notices_go_out_as_one_summary(
    db: Database, bot: Bot, catalog: Catalog, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    friend = await make_user(db, "friend")
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET language = 'ru' WHERE id = :id"), {"id": friend.id}
        )
    senders = [await make_user(db, name) for name in ("ann", "bob", "cy", "dan")]
    for sender in senders:
        await fund(db, sender.id, 100_000_000)
    batcher = SendBatcher(db, P2PRules(fee_bps=0))
    delivery = OutboxDelivery(db, BotMessageSender(bot), catalog)

    async def send(sender_index: int, amount: int, memo: str | None = None) -> None:
        await batcher.send(
            sender=senders[sender_index],
            recipient=friend,
            asset=VIBE,
            amount=amount,
            transfer_id=uuid4(),
            memo=memo,
        )

    try:
        await send(0, 1_000_000)
        assert await delivery.run_once() == 1  # the first notice goes alone, at once
        # 10 from ann, 6 from bob, 4 from cy, 2 from dan, at once; one with a memo
        who = [0] * 10 + [1] * 6 + [2] * 4 + [3] * 2
        await asyncio.gather(
            *(send(s, 1_500_000, "hi" if i == 3 else None) for i, s in enumerate(who))
        )
        await _free_chats(db)
        assert await delivery.run_once() == 0  # within the window the notices wait
        async with db.service() as session:  # the window has passed
            await session.execute(text("UPDATE ops.outbox_chats SET summary_after = now()"))
        assert await delivery.run_once() == 22  # all of them, for one message
        await send(1, 2_000_000)
        await _free_chats(db)
        assert await delivery.run_once() == 0
    finally:
        await batcher.close()
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert len(texts) == 2
    assert texts[0] == "Вы получили <b>1 VIBE</b> от <b>@ann</b>."
    assert texts[1] == (
        "Вы получили <b>22</b> перевода на сумму <b>33 VIBE</b> от <b>@ann, @bob, @cy</b> и ещё 1."
    )
    assert await _statuses(db) == {"sent": 23, "pending": 1}


async def test_other_messages_are_not_held_by_the_summary_window(
    db: Database, bot: Bot, catalog: Catalog, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    await _queue(db, [7], 3, template="send.received")
    await _queue(db, [7], 1, template="notify.test")
    delivery = OutboxDelivery(db, BotMessageSender(bot), catalog)
    assert await delivery.run_once() == 3
    await _free_chats(db)
    assert await delivery.run_once() == 1
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts[0].startswith("You received <b>3</b> transfers") and texts[1] == "7-1"


async def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_claim(
    db: Database, bot: Bot, catalog: Catalog, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    await _queue(db, [5], 1, template="notify.test")
    slow, other = (OutboxDelivery(db, BotMessageSender(bot), catalog) for _ in range(2))
    stale = units_of(await slow.claim())
    async with db.service() as session:  # the slow worker's lease runs out
        await session.execute(text("UPDATE ops.outbox SET locked_until = now()"))
        await session.execute(text("UPDATE ops.outbox_chats SET next_send_at = now()"))
    fresh = units_of(await other.claim())
    assert [u.ids for u in fresh] == [u.ids for u in stale]
    # The slow worker's send failed; recording that must not touch the message or the chat.
    await slow.record(stale[0], Failed("timed out", permanent=True))
    async with db.service() as session:
        row = (
            await session.execute(
                text(
                    "SELECT o.status, o.claim_token, c.holder FROM ops.outbox o"
                    " JOIN ops.outbox_chats c USING (chat_id)"
                )
            )
        ).one()
    token = fresh[0].first.token
    assert (row.status, row.claim_token, row.holder) == ("sending", token, token)
    await other.deliver(fresh[0])
    assert await _statuses(db) == {"sent": 1}
    assert len(api.calls_of("sendMessage")) == 1


async def test_a_send_that_cannot_finish_inside_its_lease_is_given_back(
    db: Database, bot: Bot, catalog: Catalog, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    now = [1000.0]

    async def no_sleep(seconds: float) -> None:
        now[0] += seconds

    delivery = OutboxDelivery(
        db, BotMessageSender(bot), catalog, clock=lambda: now[0], sleep=no_sleep
    )
    await _queue(db, [5], 1, template="notify.test")
    units = units_of(await delivery.claim())
    now[0] += delivery.lease  # the process stalled past its lease
    await delivery.deliver(units[0])
    assert api.calls_of("sendMessage") == []
    async with db.service() as session:
        row = (await session.execute(text("SELECT status, attempts FROM ops.outbox"))).one()
    assert (row.status, row.attempts) == ("pending", 0)
    assert await delivery.run_once() == 1  # claimable again at once, and sent
    assert len(api.calls_of("sendMessage")) == 1


async def test_purge_drops_old_messages_and_idle_chats_only(db: Database) -> None:
    await _queue(db, [1, 2], 1, template="notify.test")
    async with db.service() as session:
        await session.execute(
            text(
                "UPDATE ops.outbox SET status = 'sent',"
                " sent_at = now() - CASE chat_id WHEN 1 THEN interval '8 days' ELSE interval '1 day' END"
            )
        )
        await session.execute(
            text(
                "INSERT INTO ops.outbox_chats (chat_id, next_send_at) VALUES"
                " (1, now() - interval '2 days'), (2, now() - interval '1 hour')"
            )
        )
    assert await purge_delivered(db) == 1
    async with db.service() as session:
        left = (await session.execute(text("SELECT chat_id FROM ops.outbox_chats"))).scalars()
        assert list(left) == [2]
        assert await session.scalar(text("SELECT count(*) FROM ops.outbox")) == 1
