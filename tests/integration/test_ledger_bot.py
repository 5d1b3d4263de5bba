"""The bot's token commands against the local Bot API: balance, send, history, admin."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher
from sqlalchemy import text

from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from tests.ledger_helpers import available
from tests.telegram import ADMIN_ID, bot, botapi, dispatcher, press, send, tg_user  # noqa: F401

ANN = tg_user(201, "Ann", username="ann")
BOB = tg_user(202, "Bob", username="bob")


def last_text(api: BotApiServer) -> str:
    return str(api.calls_of("sendMessage")[-1]["text"])


def as_message(sent: dict[str, Any], message_id: int = 1) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": int(sent["chat_id"]), "type": "private"},
        "text": sent["text"],
    }


async def user_id(db: Database, telegram_id: int) -> Any:
    async with db.service() as session:
        return await session.scalar(
            text("SELECT id FROM auth.users WHERE telegram_id = :t"), {"t": telegram_id}
        )


async def test_new_user_sees_welcome_bonus(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/balance")
    assert last_text(api) == "\n".join(
        [
            catalog.get("en", "ledger.balance_title"),
            catalog.get("en", "ledger.balance_line", asset="VIBE", available="20"),
        ]
    )


async def test_send_confirms_once_and_notifies_recipient(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/send @bob 10.5 thanks for lunch")
    prompt = api.calls_of("sendMessage")[-1]
    assert prompt["text"] == catalog.get(
        "en", "send.confirm", amount="10.5", asset="VIBE", recipient="@bob", fee="0.0525"
    )
    confirm_data, cancel_data = (
        b["callback_data"] for b in prompt["reply_markup"]["inline_keyboard"][0]
    )

    await press(api, dispatcher, bot, ANN, as_message(prompt), confirm_data)
    assert api.calls_of("editMessageText")[-1]["text"] == catalog.get(
        "en", "send.done", amount="10.5", asset="VIBE", recipient="@bob", fee="0.0525"
    )
    # Pressing again, or Cancel afterwards, moves nothing.
    await press(api, dispatcher, bot, ANN, as_message(prompt), confirm_data)
    await press(api, dispatcher, bot, ANN, as_message(prompt), cancel_data)
    alerts = [c["text"] for c in api.calls_of("answerCallbackQuery") if c.get("show_alert")]
    assert alerts == [catalog.get("en", "error.request_already_confirmed")] * 2

    ann, bob = await user_id(db, 201), await user_id(db, 202)
    assert await available(db, ann) == 20_000_000 - 10_500_000 - 52_500
    assert await available(db, bob) == 30_500_000
    async with db.service() as session:
        row = (
            await session.execute(text("SELECT chat_id, template, params FROM ops.outbox"))
        ).one()
    assert (row.chat_id, row.template) == (202, "send.received_memo")
    assert row.params == {
        "amount": "10.5",
        "asset": "VIBE",
        "sender": "@ann",
        "memo": "thanks for lunch",
    }


async def test_cancelled_send_cannot_be_confirmed(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/send 202 1")
    prompt = api.calls_of("sendMessage")[-1]
    confirm_data, cancel_data = (
        b["callback_data"] for b in prompt["reply_markup"]["inline_keyboard"][0]
    )
    await press(api, dispatcher, bot, ANN, as_message(prompt), cancel_data)
    assert api.calls_of("editMessageText")[-1]["text"] == catalog.get("en", "send.cancelled")
    await press(api, dispatcher, bot, ANN, as_message(prompt), confirm_data)
    assert [c["text"] for c in api.calls_of("answerCallbackQuery") if c.get("show_alert")] == [
        catalog.get("en", "error.request_already_cancelled")
    ]
    # Someone else pressing the sender's button finds nothing to act on.
    await press(api, dispatcher, bot, BOB, as_message(prompt), confirm_data)
    assert await available(db, await user_id(db, 202)) == 20_000_000


async def test_send_mistakes_are_explained(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/send")
    assert last_text(api) == catalog.get("en", "send.usage")
    await send(api, dispatcher, bot, ANN, "/send @bob 1.0000001")
    assert last_text(api) == catalog.get("en", "error.too_many_decimals", decimals=6)
    await send(api, dispatcher, bot, ANN, "/send @ghost 1")
    assert last_text(api) == catalog.get("en", "error.recipient_not_found", recipient="@ghost")
    await send(api, dispatcher, bot, ANN, "/send @ann 1")
    assert last_text(api) == catalog.get("en", "error.self_transfer")
    await send(api, dispatcher, bot, ANN, "/send @bob abc")
    assert last_text(api) == catalog.get("en", "error.invalid_amount", amount="abc")


async def test_grant_and_revoke_are_for_admins_only(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    admin = tg_user(ADMIN_ID, "Root", username="root")
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/grant @bob 100 VIBE because")
    assert last_text(api) == catalog.get("en", "admin.refused")
    await send(api, dispatcher, bot, admin, "/grant @bob 100 TON launch gift")
    assert last_text(api) == catalog.get(
        "en", "admin.grant_done", amount="100", asset="TON", recipient="@bob"
    )
    await send(api, dispatcher, bot, admin, "/revoke @bob 0.5 TON correction")
    assert last_text(api) == catalog.get(
        "en", "admin.revoke_done", amount="0.5", asset="TON", recipient="@bob"
    )
    await send(api, dispatcher, bot, admin, "/revoke @bob 1000 TON too much")
    assert last_text(api) == catalog.get(
        "en", "admin.revoke_short", recipient="@bob", available="99.5", asset="TON"
    )
    assert await available(db, await user_id(db, 202), "TON") == 99_500_000_000
    # Bob hears of both changes, in his language, and of nothing that failed.
    async with db.service() as session:
        notices = (
            await session.execute(
                text(
                    "SELECT template, params FROM ops.outbox "
                    "WHERE chat_id = 202 AND template LIKE 'ledger.%' ORDER BY created_at"
                )
            )
        ).all()
    assert [(n.template, n.params) for n in notices] == [
        ("ledger.grant_notice", {"amount": "100", "asset": "TON", "reason": "launch gift"}),
        ("ledger.revoke_notice", {"amount": "0.5", "asset": "TON", "reason": "correction"}),
    ]

    await send(api, dispatcher, bot, BOB, "/history")
    lines = last_text(api).split("\n")
    assert lines[0] == catalog.get("en", "ledger.history_title")
    assert (
        catalog.get(
            "en",
            "ledger.history_out",
            amount="0.5",
            asset="TON",
            who=catalog.get("en", "ledger.code.revoke"),
        )
        in lines
    )
    assert (
        catalog.get(
            "en",
            "ledger.history_in",
            amount="20",
            asset="VIBE",
            who=catalog.get("en", "ledger.code.welcome_bonus"),
        )
        in lines
    )


async def test_simultaneous_confirm_presses_send_once(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
) -> None:
    import asyncio

    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/send @bob 3")
    prompt = api.calls_of("sendMessage")[-1]
    confirm_data = prompt["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    updates = [await api.user_presses(ANN, as_message(prompt), confirm_data) for _ in range(10)]
    await asyncio.gather(*(dispatcher.feed_raw_update(bot, u) for u in updates))

    ann, bob = await user_id(db, 201), await user_id(db, 202)
    assert await available(db, bob) == 23_000_000
    assert await available(db, ann) == 20_000_000 - 3_015_000
    async with db.service() as session:
        assert (
            await session.scalar(text("SELECT count(*) FROM ops.outbox WHERE chat_id = 202")) == 1
        )
    # No press ended in the generic "something went wrong" reply.
    generic = [c for c in api.calls_of("answerCallbackQuery") if "went wrong" in str(c.get("text"))]
    assert generic == []


async def test_limits_show_what_was_sent_today_and_what_is_left(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/send @bob 10.5")
    prompt = api.calls_of("sendMessage")[-1]
    confirm_data = prompt["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await press(api, dispatcher, bot, ANN, as_message(prompt), confirm_data)

    await send(api, dispatcher, bot, ANN, "/limits")
    lines = last_text(api).split("\n")
    # The default rule: 100,000 VIBE a day; the fee does not count against it.
    assert lines[:2] == [
        catalog.get("en", "limits.title"),
        catalog.get("en", "limits.line", asset="VIBE", used="10.5", limit="100000", left="99989.5"),
    ]
    hours = [h for h in range(1, 25) if lines[-1] == catalog.get("en", "limits.resets", hours=h)]
    assert len(hours) == 1

    await send(api, dispatcher, bot, tg_user(203, "Вера", language_code="ru"), "/limits")
    russian = last_text(api).split("\n")
    assert russian[1] == catalog.get(
        "ru", "limits.line", asset="VIBE", used="0", limit="100000", left="100000"
    )
    assert russian[-1].startswith("Обновится через ")
    # Fluent's Russian plural: 1 час, 2 часа, 5 часов.
    assert [catalog.get("ru", "limits.resets", hours=h).split()[3] for h in (1, 2, 5, 21)] == [
        "час",
        "часа",
        "часов",
        "час",
    ]
