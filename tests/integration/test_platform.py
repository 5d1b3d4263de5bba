"""The composition root end to end: `app.run.run` against a local Bot API server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.run import Role, run
from app.settings import Settings, load_settings
from db.database import Database
from sandbox.botapi import BotApiServer
from services.notifications.service import enqueue
from tests.telegram import TOKEN, tg_user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _eventually(check: Callable[[], bool], seconds: float = 15) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.05)


Start = Callable[..., Awaitable[Settings]]


@pytest.fixture
async def platform(
    owner_url: str, botapi: tuple[BotApiServer, str], tmp_path: Path
) -> AsyncIterator[Start]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(**overrides: Any) -> Settings:
        settings = load_settings(
            bot_token=TOKEN,
            telegram_api_base=botapi[1],
            database_url=owner_url,
            data_dir=tmp_path,
            api_port=_free_port(),
            **overrides,
        )
        tasks.append(asyncio.create_task(run(settings, Role.ALL, stop)))
        async with asyncio.timeout(30), aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{settings.api_port}/api/v1/health"):
                        return settings
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)

    yield start
    stop.set()
    await asyncio.gather(*tasks)


async def test_polling_bot_answers_and_the_worker_delivers_notifications(
    platform: Start, botapi: tuple[BotApiServer, str], db: Database
) -> None:
    api, _ = botapi
    await platform()
    assert api.calls_of("deleteWebhook") and api.calls_of("setMyCommands")
    await api.user_sends(tg_user(77, "Kim"), "/start")
    await _eventually(lambda: bool(api.calls_of("sendMessage")))
    assert "Kim" in api.calls_of("sendMessage")[0]["text"]

    async with db.service() as session:
        await enqueue(session, chat_id=77, template="notify.test", params={"text": "ping"})
    await _eventually(lambda: any(c["text"] == "ping" for c in api.calls_of("sendMessage")))


async def test_webhook_mode_checks_the_secret_token(
    platform: Start, botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    settings = await platform(
        bot_mode="webhook",
        webhook_base_url="https://bot.example.test",
        webhook_secret="s3cret-token",
    )
    [hook] = api.calls_of("setWebhook")
    assert hook["url"] == "https://bot.example.test/telegram/webhook"
    assert hook["secret_token"] == "s3cret-token"
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 78, "type": "private"},
            "from": tg_user(78, "Lee"),
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    url = f"http://127.0.0.1:{settings.api_port}/telegram/webhook"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        ) as response:
            assert response.status == 401
        async with http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        ) as response:
            assert response.status == 200
    await _eventually(lambda: bool(api.calls_of("sendMessage")))
    assert api.calls_of("sendMessage")[0]["chat_id"] == "78"
