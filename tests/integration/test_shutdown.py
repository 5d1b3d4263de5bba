"""`app.run.run` stopping: work under way gets the grace period before storage closes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from app.run import Role, run
from app.settings import Settings, load_settings
from db.urls import asyncpg_dsn
from sandbox.botapi import BotApiServer
from tests.telegram import TOKEN, tg_user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)


@asynccontextmanager
async def _users_locked(owner_url: str) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
    """Hold auth.users so that handling any update waits; yields "is someone waiting?"."""
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))

    async def someone_waits() -> bool:
        return bool(
            await owner.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = 'auth.users'::regclass"
            )
        )

    try:
        async with owner.transaction():
            await owner.execute("LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE")
            yield someone_waits
    finally:
        await owner.close()


async def _stop_while_held(
    owner_url: str, settings: Settings, send_update: Callable[[], Awaitable[None]]
) -> None:
    """Run the bot, send an update while its handling waits, stop, then let it go on."""
    stop = asyncio.Event()
    running = asyncio.create_task(run(settings, Role.BOT, stop))
    try:
        await asyncio.sleep(0)
        async with _users_locked(owner_url) as someone_waits:
            await send_update()
            await _eventually(someone_waits)
            stop.set()
            await asyncio.sleep(0.5)
        await asyncio.wait_for(running, 15)
    finally:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)


def _settings(owner_url: str, base: str, tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        bot_token=TOKEN,
        telegram_api_base=base,
        database_url=owner_url,
        data_dir=tmp_path,
        api_port=_free_port(),
        **overrides,
    )


async def test_a_polled_update_under_way_is_answered_before_run_returns(
    owner_url: str, botapi: tuple[BotApiServer, str], tmp_path: Path
) -> None:
    api, base = botapi

    async def send_update() -> None:
        async def polling() -> bool:
            return bool(api.calls_of("deleteWebhook"))

        await _eventually(polling)
        await api.user_sends(tg_user(77, "Kim"), "/start")

    await _stop_while_held(owner_url, _settings(owner_url, base, tmp_path), send_update)
    # Polling stopped at once, but the update already taken was handled to the end.
    assert any("Kim" in call["text"] for call in api.calls_of("sendMessage"))


async def test_a_webhook_update_under_way_is_answered_before_run_returns(
    owner_url: str, botapi: tuple[BotApiServer, str], tmp_path: Path
) -> None:
    api, base = botapi
    settings = _settings(
        owner_url,
        base,
        tmp_path,
        bot_mode="webhook",
        webhook_base_url="https://bot.example.test",
        webhook_secret="s3cret-token",
    )
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 78, "type": "private"},
            "from": tg_user(78, "Lee"),
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }

    async def send_update() -> None:
        url = f"http://127.0.0.1:{settings.api_port}{settings.webhook_path}"
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        async with aiohttp.ClientSession() as http, asyncio.timeout(15):
            while True:
                try:
                    async with http.post(url, json=update, headers=headers) as response:
                        # Accepted at once: aiogram handles a posted update in the background.
                        assert response.status == 200
                        return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)

    await _stop_while_held(owner_url, settings, send_update)
    assert any("Lee" in call["text"] for call in api.calls_of("sendMessage"))
