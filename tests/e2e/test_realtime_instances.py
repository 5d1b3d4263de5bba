"""Two `python -m bot --role api` processes on one database: a WebSocket client of one receives
the events of transfers made through the other, each once, and loses none when that other
process is killed; stopping its own process closes it with "going away"."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.initdata import sign_init_data
from tests.telegram import TOKEN

ROOT = Path(__file__).resolve().parents[2]
ANN: dict[str, Any] = {"id": 7201, "first_name": "Ann", "username": "ann_rt"}
BOB: dict[str, Any] = {"id": 7202, "first_name": "Bob", "username": "bob_rt"}
# The bound from a transfer's commit (its API answer) to the event on another
# instance's socket; a deadline, not a measure.
WITHIN = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    def __init__(self, owner_url: str, workdir: Path) -> None:
        workdir.mkdir()
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"BOT_TOKEN", "DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL"}
        }
        env.update(
            DATABASE_URL=owner_url,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE="http://127.0.0.1:9",
            DATA_DIR=str(workdir / "data"),
            API_PORT=str(self.port),
            LOG_LEVEL="INFO",
            PYTHONPATH=str(ROOT),
        )
        self.log = workdir / "log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--role", "api"],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_healthy(self, http: aiohttp.ClientSession, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                async with http.get(self.base + "/api/v1/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.3)
        raise AssertionError("the API process did not come up:\n" + self.output())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _tma(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": "tma " + sign_init_data(TOKEN, user)}


async def _send(http: aiohttp.ClientSession, api: ApiProcess, key: str, amount: str) -> str:
    async with http.post(
        api.base + "/api/v1/transfers",
        json={"recipient": "@" + BOB["username"], "asset": "VIBE", "amount": amount},
        headers=_tma(ANN) | {"Idempotency-Key": key},
    ) as response:
        body = await response.json()
        assert response.status == 201, body
        return str(body["data"]["transfer_id"])


async def _event_for(ws: aiohttp.ClientWebSocketResponse, transfer: str, deadline: float) -> None:
    """Reads until the `in` event of `transfer`; fails past `deadline` (time.monotonic())."""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no event for {transfer} in time"
        message = await ws.receive(timeout=left)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        event = json.loads(message.data)
        if event.get("type") == "transfer" and event["data"]["transfer_id"] == transfer:
            assert event["channel"] == "user" and event["data"]["direction"] == "in"
            return


async def test_a_client_of_one_instance_receives_transfers_made_through_another(
    owner_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    a, b = ApiProcess(owner_url, tmp_path / "a"), ApiProcess(owner_url, tmp_path / "b")
    try:
        await a.wait_healthy(http)
        await b.wait_healthy(http)
        for user in (ANN, BOB):  # both signed up (Ann's welcome bonus pays the transfers)
            async with http.get(a.base + "/api/v1/me", headers=_tma(user)) as response:
                assert response.status == 200
        ws = await http.ws_connect(b.base + "/api/v1/ws")
        await ws.send_json({"type": "auth", "initData": sign_init_data(TOKEN, BOB)})
        ready = json.loads((await ws.receive(timeout=30)).data)
        assert ready["type"] == "ready"
        await ws.send_json({"type": "resume", "after": ready["last_event_id"]})

        for n in range(3):
            transfer = await _send(http, a, f"rt-{n}", "1000000")
            await _event_for(ws, transfer, time.monotonic() + WITHIN)

        # Instance A dies; what is made through B still reaches B's client.
        a.stop()
        transfer = await _send(http, b, "rt-after-kill", "1000000")
        await _event_for(ws, transfer, time.monotonic() + WITHIN)

        b.process.send_signal(signal.SIGTERM)
        closing = await ws.receive(timeout=30)
        while closing.type is aiohttp.WSMsgType.TEXT:  # the balance events, a presence beat
            assert json.loads(closing.data)["type"] in ("balance", "presence")
            closing = await ws.receive(timeout=30)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1001
        assert await asyncio.to_thread(b.process.wait, 60) == 0, b.output()
    finally:
        a.stop()
        b.stop()
