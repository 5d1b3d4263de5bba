"""Fixtures that put a real aiogram Bot and Dispatcher in front of the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiohttp.test_utils import TestServer

from app.capabilities import CAPABILITIES, bot_routers
from bot.client import make_bot
from bot.dispatcher import build_dispatcher
from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from tests.services import make_services

TOKEN = "7000000001:TEST-token_for-the-local-bot-api"
WEBAPP_URL = "https://app.example.test/"
ADMIN_ID = 900


@pytest.fixture
async def botapi() -> AsyncIterator[tuple[BotApiServer, str]]:
    api = BotApiServer(TOKEN)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def bot(botapi: tuple[BotApiServer, str]) -> AsyncIterator[Bot]:
    instance = make_bot(TOKEN, botapi[1])
    yield instance
    await instance.session.close()


def bot_dispatcher(
    db: Database, catalog: Catalog, *, routers: Sequence[Router] = (), **overrides: Any
) -> Dispatcher:
    """The bot as the platform builds it (every capability's router after `routers`)."""
    values: dict[str, Any] = {"admin_ids": frozenset({ADMIN_ID}), "webapp_url": WEBAPP_URL}
    services = make_services(db, catalog, **{**values, **overrides})
    return build_dispatcher(services, capability_routers=[*routers, *bot_routers(CAPABILITIES)])


@pytest.fixture
def dispatcher(db: Database, catalog: Catalog) -> Dispatcher:
    return bot_dispatcher(db, catalog)


def tg_user(
    user_id: int, first_name: str = "Ann", language_code: str = "en", **extra: Any
) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": language_code,
        **extra,
    }


async def send(
    api: BotApiServer, dp: Dispatcher, bot: Bot, user: dict[str, Any], text: str
) -> None:
    """A person writes to the bot; the update goes through the real dispatcher."""
    update = await api.user_sends(user, text)
    await dp.feed_raw_update(bot, update)


async def press(
    api: BotApiServer,
    dp: Dispatcher,
    bot: Bot,
    user: dict[str, Any],
    message: dict[str, Any],
    data: str,
) -> None:
    update = await api.user_presses(user, message, data)
    await dp.feed_raw_update(bot, update)
