"""`/start <payload>` reaches the capability owning its prefix through aiogram filters.

No capability owns a prefix yet, so the test defines one: a router with one `deep_link()`
handler, included the way a capability's router is.
"""

from __future__ import annotations

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message

from bot.deeplinks import DeepLinkPrefix, deep_link, payload_value
from bot.handlers.start import welcome
from db.database import Database
from db.models import User
from sandbox.botapi import BotApiServer
from services.i18n import Catalog, Translator
from tests.telegram import bot_dispatcher, send, tg_user


@pytest.fixture
def gifts() -> list[tuple[str, bool]]:
    return []


@pytest.fixture
def gift_dispatcher(db: Database, catalog: Catalog, gifts: list[tuple[str, bool]]) -> Dispatcher:
    async def claim_gift(
        message: Message,
        deep_link: str,
        user: User,
        is_new_user: bool,
        t: Translator,
        webapp_url: str,
    ) -> None:
        gifts.append((deep_link, is_new_user))
        await welcome(message, user, t, webapp_url)

    router = Router(name="gifts")
    router.message.register(claim_gift, deep_link(DeepLinkPrefix.GIFT))
    return bot_dispatcher(db, catalog, routers=[router])


async def test_a_payload_reaches_the_router_owning_its_prefix(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    gift_dispatcher: Dispatcher,
    catalog: Catalog,
    gifts: list[tuple[str, bool]],
) -> None:
    api, _ = botapi
    await send(api, gift_dispatcher, bot, tg_user(301), "/start gift_Ab-9_z")
    await send(api, gift_dispatcher, bot, tg_user(301), "/start gift_again")
    assert gifts == [("Ab-9_z", True), ("again", False)]
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts == [catalog.get("en", "start.welcome", name="Ann")] * 2


@pytest.mark.parametrize(
    "payload",
    [
        "zzz_unknown",  # no capability's prefix
        "gift_",  # the prefix without a value
        "gift_a.b",  # a character Telegram does not pass in a start link
        "gift_" + "x" * 60,  # 65 characters: longer than Telegram allows
    ],
)
async def test_a_payload_no_router_takes_gets_the_plain_welcome(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    gift_dispatcher: Dispatcher,
    catalog: Catalog,
    gifts: list[tuple[str, bool]],
    payload: str,
) -> None:
    api, _ = botapi
    await send(api, gift_dispatcher, bot, tg_user(302), f"/start {payload}")
    assert gifts == []
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts == [
        catalog.get("en", "start.welcome", name="Ann"),
        catalog.get("en", "start.payload_unknown"),
    ]


async def test_start_without_a_payload_is_the_welcome_alone(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    gift_dispatcher: Dispatcher,
    catalog: Catalog,
    gifts: list[tuple[str, bool]],
) -> None:
    api, _ = botapi
    await send(api, gift_dispatcher, bot, tg_user(303), "/start")
    assert gifts == []
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts == [catalog.get("en", "start.welcome", name="Ann")]


def test_payload_value_checks_the_whole_payload_before_the_prefix() -> None:
    assert payload_value("ref_", "ref_" + "a" * 60) == "a" * 60  # 64 characters in all
    assert payload_value("ref_", "ref_" + "a" * 61) is None
    assert payload_value("ref_", "ref_a b") is None
    assert payload_value("ref_", "gift_ref_a") is None
    assert payload_value("ref_", None) is None
