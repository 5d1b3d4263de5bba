"""Announcements: previewed, confirmed once, on every Mini App at once, fanned out to the bot's
chats through the outbox once per user, also across a crash in the middle."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from aiogram import Bot, Dispatcher
from sqlalchemy import text

from db.database import Database
from db.urls import app_url_from_owner
from integrations.telegram.sender import BotMessageSender
from sandbox.botapi import BotApiServer
from services.announcements.service import Draft, confirm, create, fan_out, latest_status
from services.i18n import Catalog
from services.notifications.delivery import OutboxDelivery
from tests.ledger_helpers import make_user
from tests.telegram import ADMIN_ID, bot, botapi, dispatcher, press, send, tg_user  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ADMIN = tg_user(ADMIN_ID, "Ada")
ANN = tg_user(301, "Ann")
IVAN = tg_user(302, "Ivan", language_code="ru")
BLOCKED = tg_user(303, "Bo")
NOBODY = tg_user(304, "Eve")


def as_message(sent: dict[str, Any], message_id: int = 1) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": int(sent["chat_id"]), "type": "private"},
        "text": sent["text"],
    }


async def _outbox(db: Database) -> list[tuple[int, str, dict[str, Any], Any]]:
    async with db.service() as session:
        rows = await session.execute(
            text(
                "SELECT chat_id, template, params, reply_markup FROM ops.outbox"
                " WHERE template = 'announcement' ORDER BY chat_id"
            )
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


async def test_an_admin_previews_confirms_once_and_everyone_in_the_language_gets_one_copy(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    for user in (ADMIN, ANN, IVAN, BLOCKED):
        await send(api, dispatcher, bot, user, "/start")
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET bot_blocked_at = now() WHERE telegram_id = 303")
        )
    # Not an admin: no draft, no preview.
    await send(api, dispatcher, bot, ANN, "/announce hi")
    async with db.service() as session:
        assert (await session.execute(text("SELECT count(*) FROM ops.announcements"))).scalar() == 0

    await send(
        api, dispatcher, bot, ADMIN, "/announce en Big <news>\nbutton: Open | https://x.test/a"
    )
    header, preview = api.calls_of("sendMessage")[-2:]
    assert header["text"] == catalog.get("en", "announce.preview", audience=2, lang="en")
    assert preview["text"] == "Big &lt;news&gt;"
    link, (ok, no) = preview["reply_markup"]["inline_keyboard"]
    assert link == [{"text": "Open", "url": "https://x.test/a"}]
    assert await _outbox(db) == []  # nothing goes anywhere before the confirmation

    await press(api, dispatcher, bot, ADMIN, as_message(preview), ok["callback_data"])
    await press(api, dispatcher, bot, ADMIN, as_message(preview), ok["callback_data"])
    await press(api, dispatcher, bot, ADMIN, as_message(preview), no["callback_data"])
    alerts = [c["text"] for c in api.calls_of("answerCallbackQuery") if c.get("show_alert")]
    assert alerts == [catalog.get("en", "error.announcement_already_decided")] * 2
    async with db.service() as session:
        events = (
            await session.execute(
                text("SELECT user_id, data FROM ops.events WHERE channel = 'announcements'")
            )
        ).all()
    assert len(events) == 1 and events[0][0] is None
    assert events[0][1]["html"] == "Big &lt;news&gt;" and events[0][1]["language"] == "en"

    # English speakers who have not blocked the bot: Ada and Ann (Ivan reads Russian).
    assert await fan_out(db, batch=1) == 2
    assert await fan_out(db, batch=1) == 0
    markup = {"inline_keyboard": [[{"text": "Open", "url": "https://x.test/a"}]]}
    assert await _outbox(db) == [
        (301, "announcement", {"html": "Big &lt;news&gt;"}, markup),
        (ADMIN_ID, "announcement", {"html": "Big &lt;news&gt;"}, markup),
    ]
    await send(api, dispatcher, bot, ADMIN, "/announce_status")
    assert api.calls_of("sendMessage")[-1]["text"] == catalog.get(
        "en", "announce.status", audience=2, sent=0, failed=0, blocked=0, remaining=2
    )

    # The outbox sends the admin's HTML as it is, with the button.
    delivery = OutboxDelivery(db, BotMessageSender(bot), catalog, rate_per_second=30)
    assert await delivery.run_once() == 2
    copies = [c for c in api.calls_of("sendMessage") if c["text"] == "Big &lt;news&gt;"][-2:]
    assert sorted(int(c["chat_id"]) for c in copies) == [301, ADMIN_ID]
    assert all(c["reply_markup"] == markup for c in copies)
    await send(api, dispatcher, bot, ADMIN, "/announce_status")
    assert api.calls_of("sendMessage")[-1]["text"] == catalog.get(
        "en", "announce.status", audience=2, sent=2, failed=0, blocked=0, remaining=0
    )


async def test_bad_drafts_are_refused_with_the_usage(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    for command in ("/announce", "/announce ru", "/announce hi\nbutton: Go | http://plain.test"):
        await send(api, dispatcher, bot, ADMIN, command)
        assert api.calls_of("sendMessage")[-1]["text"] == catalog.get("en", "announce.usage")


_CRASHING_FAN_OUT = """
import asyncio, sys
from db.database import create_database
from services.announcements.service import fan_out_batch

async def main() -> None:
    db = create_database(sys.argv[1], pool_size=1)
    while True:
        async with db.service() as session:
            added = await fan_out_batch(session, batch=3)
        print(added, flush=True)
        if added is None:
            return
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


async def test_a_fan_out_killed_midway_resumes_and_nobody_gets_a_second_copy(
    owner_url: str, db: Database
) -> None:
    admin = await make_user(db)
    users = [await make_user(db) for _ in range(60)]
    async with db.service() as session:
        announcement, audience = await create(
            session, source="crash", created_by=admin.id, chat_id=1, draft=Draft("<b>hi</b>")
        )
        await confirm(session, announcement)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASHING_FAN_OUT,
        app_url_from_owner(owner_url),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert worker.stdout is not None
        # Killed (SIGKILL: no clean-up) once it has enqueued a few batches.
        for _ in range(3):
            line = await asyncio.wait_for(worker.stdout.readline(), 60)
            assert line.strip() == b"3"
        worker.send_signal(signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 30)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    enqueued = len(await _outbox(db))
    async with db.service() as session:
        status = await latest_status(session)
    assert status is not None and not status.fanned_out and status.remaining == audience
    assert 9 <= enqueued < audience  # killed midway
    # Two processes take over at once.
    added = await asyncio.gather(fan_out(db, batch=7), fan_out(db, batch=7))
    async with db.service() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT user_id, count(*) FROM ops.outbox WHERE template = 'announcement'"
                    " GROUP BY user_id"
                )
            )
        ).all()
        status = await latest_status(session)
    expected: set[UUID] = {admin.id, *(u.id for u in users)}
    assert {r[0] for r in rows} >= expected and all(r[1] == 1 for r in rows)
    assert len(rows) == audience and sum(added) == audience - enqueued
    assert status is not None and status.fanned_out and status.remaining == audience
