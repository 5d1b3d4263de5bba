"""`bot.platform.run` stopping: work under way gets the grace period before storage closes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bot.platform import Role, run
from bot.settings import load_settings
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


async def test_a_bot_update_under_way_is_answered_before_run_returns(
    owner_url: str, botapi: tuple[BotApiServer, str], tmp_path: Path
) -> None:
    api, base = botapi
    settings = load_settings(
        bot_token=TOKEN,
        telegram_api_base=base,
        database_url=owner_url,
        data_dir=tmp_path,
        api_port=_free_port(),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run(settings, Role.BOT, stop))
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))

    async def polling() -> bool:
        return bool(api.calls_of("deleteWebhook"))

    async def waiting_for_the_lock() -> bool:
        return bool(
            await owner.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = 'auth.users'::regclass"
            )
        )

    try:
        await _eventually(polling)
        # The update's handling waits on the database: the test holds a lock it needs.
        lock = owner.transaction()
        await lock.start()
        await owner.execute("LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE")
        await api.user_sends(tg_user(77, "Kim"), "/start")
        await _eventually(waiting_for_the_lock)
        stop.set()
        await asyncio.sleep(0.5)
        await lock.rollback()
        await asyncio.wait_for(running, 15)
    finally:
        stop.set()
        await owner.close()
        await asyncio.gather(running, return_exceptions=True)
    # Polling stopped at once, but the update already taken was handled to the end.
    assert any("Kim" in call["text"] for call in api.calls_of("sendMessage"))
