from __future__ import annotations

from aiogram import Bot, Dispatcher
from sqlalchemy import text

from app.capabilities import CAPABILITIES, bot_commands
from bot.commands import menu, set_command_menu
from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from tests.telegram import WEBAPP_URL, press, send, tg_user


async def test_start_greets_in_users_language_with_open_app_button(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, tg_user(101, "Иван", "ru"), "/start")

    [sent] = api.calls_of("sendMessage")
    assert sent["chat_id"] == "101"
    assert sent["text"] == catalog.get("ru", "start.welcome", name="Иван")
    button = sent["reply_markup"]["inline_keyboard"][0][0]
    assert button == {"text": catalog.get("ru", "start.open_app"), "web_app": {"url": WEBAPP_URL}}
    async with db.service() as session:
        row = (
            await session.execute(
                text(
                    "SELECT first_name, language_code, referral_code FROM auth.users WHERE telegram_id = 101"
                )
            )
        ).one()
    assert row.first_name == "Иван" and row.language_code == "ru" and len(row.referral_code) == 8


async def test_unknown_deep_link_still_welcomes(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, tg_user(102), "/start zzz_unknown")
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts[-1] == catalog.get("en", "start.payload_unknown")


async def test_help_and_unsupported_language_falls_back_to_english(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, tg_user(103, language_code="de"), "/help")
    assert api.calls_of("sendMessage")[0]["text"] == catalog.get("en", "help.text")


async def test_language_choice_is_remembered(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    ann = tg_user(104, language_code="en")
    await send(api, dispatcher, bot, ann, "/language")
    menu = api.calls_of("sendMessage")[0]
    codes = [b["callback_data"] for b in menu["reply_markup"]["inline_keyboard"][0]]
    assert codes == ["lang:en", "lang:ru"]
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 104, "type": "private"},
        "text": menu["text"],
    }
    await press(api, dispatcher, bot, ann, message, "lang:ru")
    assert api.calls_of("editMessageText")[0]["text"] == catalog.get("ru", "language.set")
    await send(api, dispatcher, bot, ann, "/help")
    assert api.calls_of("sendMessage")[-1]["text"] == catalog.get("ru", "help.text")


async def test_banned_user_gets_one_refusal_and_nothing_else(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, tg_user(105), "/start")
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 105")
        )
    api.calls.clear()
    await send(api, dispatcher, bot, tg_user(105), "/help")
    assert [c["text"] for c in api.calls_of("sendMessage")] == [catalog.get("en", "banned")]


async def test_command_menu_is_set_per_language(
    botapi: tuple[BotApiServer, str], bot: Bot, catalog: Catalog
) -> None:
    api, _ = botapi
    await set_command_menu(bot, catalog, menu(bot_commands(CAPABILITIES)))
    default = ("default",)
    assert set(api.commands) == {(default, ""), (default, "en"), (default, "ru")}
    assert api.commands[(default, "ru")][0] == {
        "command": "start",
        "description": catalog.get("ru", "commands.start"),
    }
