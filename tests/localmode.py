"""The whole platform in local mode, in-process, on free ports, against the test database.

What `python -m bot` does without BOT_TOKEN: the sandbox (Bot API + web chat) beside the
platform. Integration tests drive it over HTTP; browser tests drive it with Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from app.run import Role, run
from app.settings import Settings, load_settings

STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LivePlatform:
    settings: Settings
    api_url: str
    webchat_url: str
    sandbox_url: str

    @property
    def token(self) -> str:
        return (self.settings.data_dir / "local_bot_token").read_text().strip()


async def _wait_until_up(urls: list[str], task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        for url in urls:
            while True:
                if task.done():
                    task.result()  # the platform died: show why
                    raise RuntimeError("the platform stopped during startup")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not come up in {STARTUP_SECONDS:.0f}s")
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def live_platform(
    owner_url: str, data_dir: Path, **overrides: object
) -> AsyncIterator[LivePlatform]:
    """`python -m bot` in local mode (no BOT_TOKEN), on free ports, against a test database."""
    api_port, sandbox_port = free_port(), free_port()
    values: dict[str, object] = {
        "bot_token": None,
        "database_url": owner_url,
        "data_dir": data_dir,
        "api_host": "127.0.0.1",
        "api_port": api_port,
        "sandbox": True,
        "sandbox_port": sandbox_port,
        "webapp_url": f"http://127.0.0.1:{api_port}/app/",
        "log_level": "WARNING",
    }
    settings = load_settings(**(values | overrides))
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, Role.ALL, stop))
    platform = LivePlatform(
        settings=settings,
        api_url=f"http://127.0.0.1:{api_port}",
        webchat_url=f"http://127.0.0.1:{sandbox_port}/sandbox/",
        sandbox_url=f"http://127.0.0.1:{sandbox_port}",
    )
    try:
        await _wait_until_up(
            [f"{platform.api_url}/api/v1/health", f"{platform.sandbox_url}/sandbox/api/bot"], task
        )
        yield platform
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def live(owner_url: str, tmp_path: Path) -> AsyncIterator[LivePlatform]:
    async with live_platform(owner_url, tmp_path / "data") as platform:
        yield platform


@pytest.fixture
async def live_ed25519(owner_url: str, tmp_path: Path) -> AsyncIterator[LivePlatform]:
    """Local mode with INIT_DATA_VALIDATION=ed25519: the API holds no token check, only the
    sandbox's published key (the default key in local mode)."""
    async with live_platform(
        owner_url, tmp_path / "data", init_data_validation="ed25519"
    ) as platform:
        yield platform
