"""Admin commands sit behind the `IsAdmin()` filter; anyone else gets the one refusal as before."""

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy import text

from bot.filters import IsAdmin
from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from tests.telegram import ADMIN_ID, make_dispatcher, send, tg_user

ANN = tg_user(251, "Ann", username="ann_filter")
BOB = tg_user(252, "Bob", username="bob_filter")


async def _transfers(db: Database) -> int:
    async with db.service() as session:
        count = await session.scalar(text("SELECT count(*) FROM tokens.transfers"))
    return int(count or 0)


@pytest.mark.parametrize(
    "command",
    ["/grant @bob_filter 100 VIBE because", "/revoke @bob_filter 1 VIBE", "/grant", "/revoke x"],
)
async def test_a_non_admins_admin_command_is_refused_and_moves_nothing(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
    command: str,
) -> None:
    api, _ = botapi
    for person in (ANN, BOB):  # registered first: a new user's welcome bonus is a transfer
        await send(api, dispatcher, bot, person, "/start")
    before = await _transfers(db)
    api.calls.clear()
    await send(api, dispatcher, bot, ANN, command)
    assert [c["text"] for c in api.calls_of("sendMessage")] == [catalog.get("en", "admin.refused")]
    assert await _transfers(db) == before


async def test_an_admin_passes_the_filter_to_the_command(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, tg_user(ADMIN_ID, "Root"), "/grant")
    assert [c["text"] for c in api.calls_of("sendMessage")] == [
        catalog.get("en", "admin.grant_usage")
    ]


async def test_is_admin_guards_a_whole_router(
    botapi: tuple[BotApiServer, str], bot: Bot, db: Database, catalog: Catalog
) -> None:
    seen: list[int] = []

    async def audit(message: Message) -> None:
        assert message.from_user is not None
        seen.append(message.from_user.id)

    router = Router(name="audit")
    router.message.filter(IsAdmin())
    router.message.register(audit, Command("audit"))
    dispatcher = make_dispatcher(db, catalog, capability_routers=[router])
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/audit")
    await send(api, dispatcher, bot, tg_user(ADMIN_ID, "Root"), "/audit")
    assert seen == [ADMIN_ID]
