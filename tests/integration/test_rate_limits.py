from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer

from app.services import Limits
from db.database import Database
from sandbox.botapi import BotApiServer
from services.errors import RateLimited
from services.i18n import Catalog
from services.ratelimit.limiter import MemoryWindows, RateLimiter, make_storage
from tests.api import tma, web_user
from tests.services import make_services, root_app
from tests.telegram import bot_dispatcher, send, tg_user


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


async def test_two_instances_sharing_redis_share_one_window() -> None:
    """REDIS_URL set: two processes' limiters count one window, so the limit holds across them."""
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    namespace = f"test-{uuid.uuid4().hex}"
    first, second = (
        RateLimiter.create(make_storage("redis://127.0.0.1:6379/0"), namespace, "4/minute")
        for _ in range(2)
    )
    assert first.strategy is not second.strategy
    for limiter in (first, second, first, second):
        await limiter.hit("ann")
    for limiter in (first, second):
        with pytest.raises(RateLimited):
            await limiter.hit("ann")


async def test_memory_windows_move_and_forget_idle_keys() -> None:
    now = [1000.0]
    storage = MemoryWindows(clock=lambda: now[0])
    limiter = RateLimiter.create(storage, "m", "2/minute")
    await limiter.hit("ann")
    now[0] += 30
    await limiter.hit("ann")
    with pytest.raises(RateLimited) as info:
        await limiter.hit("ann")
    assert info.value.details["retry_after"] == 30  # the first hit leaves the window then
    now[0] += 30.5
    await limiter.hit("ann")  # a moving window: only the first hit has left it
    with pytest.raises(RateLimited):
        await limiter.hit("ann")
    for n in range(100):
        await limiter.hit(f"user-{n}")
    assert len(storage) == 101
    now[0] += 61
    # Each hit, allowed or not, drops idle keys as it goes: no sweep.
    assert [await limiter.allow("bob") for _ in range(60)] == [True, True] + [False] * 58
    assert len(storage) == 1
    # Windows of other lengths are kept apart: a minute's hits outlive a second's window.
    short = RateLimiter.create(storage, "s", "1/second")
    now[0] += 5
    await short.hit("ann")
    now[0] += 5
    await short.hit("ann")
    with pytest.raises(RateLimited):
        await limiter.hit("bob")


async def test_api_answers_429_with_retry_after_per_user(db: Database, catalog: Catalog) -> None:
    storage = make_storage(None)
    limits = Limits(api_user=RateLimiter.create(storage, "u", "2/minute"), api_ip=None, bot=None)
    app = root_app(make_services(db, catalog, limits=limits))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
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
    limits = Limits(api_user=None, api_ip=None, bot=throttle)
    dp = bot_dispatcher(db, catalog, admin_ids=frozenset(), limits=limits)
    for _ in range(6):
        await send(api, dp, bot, tg_user(5), "/help")
    texts = [c["text"] for c in api.calls_of("sendMessage")]
    assert texts == [catalog.get("en", "help.text")] * 3 + [catalog.get("en", "error.rate_limited")]
