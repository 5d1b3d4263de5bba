"""Fixtures that put a real aiogram Bot and Dispatcher in front of the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiohttp.test_utils import TestServer

from bot.dispatcher import build_dispatcher
from bot.platform import make_bot
from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.transfers.config import LedgerConfig
from services.transfers.usecase import SessionSends, Transfers

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


def make_dispatcher(db: Database, catalog: Catalog, **overrides: Any) -> Dispatcher:
    """The bot as the composition root wires it, with the default ledger settings; each send
    in its own transaction."""
    ledger = overrides.pop("ledger", None) or LedgerConfig()
    values: dict[str, Any] = {
        "db": db,
        "catalog": catalog,
        "admin_ids": frozenset({ADMIN_ID}),
        "webapp_url": WEBAPP_URL,
        "ledger": ledger,
        "transfers": Transfers(db, ledger.p2p, ledger.assets, SessionSends(db)),
        "on_created": ledger.on_created,
    }
    return build_dispatcher(**(values | overrides))


@pytest.fixture
def dispatcher(db: Database, catalog: Catalog) -> Dispatcher:
    return make_dispatcher(db, catalog)


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
