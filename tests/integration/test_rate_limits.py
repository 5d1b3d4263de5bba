from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer

from db.database import Database
from sandbox.botapi import BotApiServer
from services.errors import RateLimited
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter, make_storage
from tests.api import api_context, tma, web_user
from tests.telegram import make_dispatcher, send, tg_user
from webapp_api.app import create_api_app


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_limiter_counts_per_key_and_says_when_to_retry(backend: str) -> None:
    if backend == "redis" and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    storage = make_storage("redis://127.0.0.1:6379/0" if backend == "redis" else None)
    limiter = RateLimiter.create(storage, f"test-{uuid.uuid4().hex}", "3/minute")
    for _ in range(3):
        await limiter.hit("ann")
    with pytest.raises(RateLimited) as info:
        await limiter.hit("ann")
    assert 1 <= info.value.details["retry_after"] <= 60
    await limiter.hit("bob")  # another key has its own window


async def test_api_answers_429_with_retry_after_per_user(db: Database, catalog: Catalog) -> None:
    storage = make_storage(None)
    context = api_context(db, catalog, user_limiter=RateLimiter.create(storage, "u", "2/minute"))
    client: TestClient[Any, Any] = TestClient(TestServer(create_api_app(context), host="127.0.0.1"))
    await client.start_server()
    try:
        for _ in range(2):
            assert (await client.get("/api/v1/me", headers=tma(web_user(1)))).status == 200
        response = await client.get("/api/v1/me", headers=tma(web_user(1)))
        body = await response.json()
        assert response.status == 429 and body["error"]["code"] == "rate_limited"
        assert int(response.headers["Retry-After"]) >= 1
        assert (await client.get("/api/v1/me", headers=tma(web_user(2)))).status == 200
    finally:
        await client.close()


async def test_bot_flood_is_answered_once_then_ignored(
    db: Database, catalog: Catalog, botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    api, _ = botapi
    throttle = RateLimiter.create(make_storage(None), "bot", "3/minute")
    dp = make_dispatcher(db, catalog, admin_ids=frozenset(), throttle=throttle)
    for _ in range(6):
        await send(api, dp, bot, tg_user(5), "/help")
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts == [catalog.get("en", "help.text")] * 3 + [catalog.get("en", "error.rate_limited")]
