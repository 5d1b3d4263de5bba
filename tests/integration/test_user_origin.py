"""User creation knows its origin: the `/start` payload or the Mini App's `start_param` reaches
the hooks that run in the transaction creating the user (what referrals will use)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiogram import Bot, Dispatcher
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from db.database import Database, ServiceTx
from db.models import User
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.users.schemas import Door, Origin
from services.users.service import OnCreated
from tests.api import tma, web_user
from tests.services import make_services, root_app
from tests.telegram import bot_dispatcher, send, tg_user

_COUNT = text("SELECT count(*) FROM auth.users WHERE id = :id")


@dataclass(frozen=True)
class Seen:
    telegram_id: int
    origin: Origin
    # The new row as the hook's own transaction sees it, and as any other connection does.
    inside: int
    outside: int


@pytest.fixture
def seen() -> list[Seen]:
    return []


@pytest.fixture
def hook(db: Database, seen: list[Seen]) -> OnCreated:
    async def on_created(session: ServiceTx, user: User, origin: Origin) -> None:
        inside = await session.scalar(_COUNT, {"id": user.id})
        async with db.statement() as conn:
            outside = await conn.scalar(_COUNT, {"id": user.id})
        seen.append(Seen(user.telegram_id, origin, int(inside or 0), int(outside or 0)))

    return on_created


@pytest.fixture
def origin_dispatcher(db: Database, catalog: Catalog, hook: OnCreated) -> Dispatcher:
    return bot_dispatcher(db, catalog, on_user_created=(hook,))


async def test_a_deep_link_payload_reaches_the_transaction_creating_the_user(
    botapi: tuple[BotApiServer, str], bot: Bot, origin_dispatcher: Dispatcher, seen: list[Seen]
) -> None:
    api, _ = botapi
    await send(api, origin_dispatcher, bot, tg_user(401), "/start ref_abc")
    await send(api, origin_dispatcher, bot, tg_user(401), "/start ref_other")  # known by now
    await send(api, origin_dispatcher, bot, tg_user(402), "/help")
    await send(api, origin_dispatcher, bot, tg_user(403), "/start@GoodVibeBot ref_a.b")
    assert seen == [
        Seen(401, Origin(Door.BOT, "ref_abc"), inside=1, outside=0),
        Seen(402, Origin(Door.BOT, None), inside=1, outside=0),
        # Not a payload Telegram sends: the user is created, the payload is not trusted.
        Seen(403, Origin(Door.BOT, None), inside=1, outside=0),
    ]


async def test_a_start_param_reaches_the_transaction_creating_the_user(
    db: Database, catalog: Catalog, hook: OnCreated, seen: list[Seen]
) -> None:
    app = root_app(make_services(db, catalog, on_user_created=(hook,)))
    async with TestClient(TestServer(app)) as client:
        for start_param in ("ref_xyz", "ref_again"):
            response = await client.get(
                "/api/v1/me", headers=tma(web_user(404), start_param=start_param)
            )
            assert response.status == 200
        response = await client.get("/api/v1/me", headers=tma(web_user(405)))
        assert response.status == 200
    assert seen == [
        Seen(404, Origin(Door.MINIAPP, "ref_xyz"), inside=1, outside=0),
        Seen(405, Origin(Door.MINIAPP, None), inside=1, outside=0),
    ]
