"""The process's life as an operator sees it: SIGTERM under load, and a start after kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import psutil
import pytest

from sandbox.initdata import sign_init_data

ROOT = Path(__file__).resolve().parents[2]
# A seeded sandbox user: the local Telegram accepts messages to this chat.
ANN_CHAT = 100_000_001


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Platform:
    """`python -m bot` in local mode on a DATA_DIR, as a subprocess."""

    def __init__(self, data_dir: Path, **settings: str) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"BOT_TOKEN", "DATABASE_URL", "APP_DATABASE_URL"}
        }
        # The code under test is this checkout's, whatever the venv's editable install points at.
        env.update(
            DATA_DIR=str(data_dir),
            API_PORT=str(self.port),
            SANDBOX_PORT="0",
            LOG_LEVEL="INFO",
            PYTHONPATH=str(ROOT),
            **settings,
        )
        self.log = data_dir.parent / f"platform-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=data_dir.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    async def wait_healthy(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.output()
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/api/v1/health") as response:
                        body = await response.json()
                        assert body["data"]["status"] == "ok", body
                        return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.3)
        raise AssertionError("the platform did not come up:\n" + self.output())

    async def terminate(self, within: float) -> float:
        """SIGTERM; the seconds until the process exited, which must be within `within`."""
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, within)
        assert code == 0, self.output()
        return time.monotonic() - began

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _postgres_of(pgdata: Path) -> list[psutil.Process]:
    """Every live postgres process working in `pgdata` (a postgres runs in its data dir)."""
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "postgres":
            continue
        try:
            if Path(process.cwd()) == pgdata.resolve():
                found.append(process)
        except psutil.Error:
            continue
    return found


def _postmaster(pgdata: Path) -> psutil.Process:
    pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    return psutil.Process(pid)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root, pgserver runs the server as another user, who must
    # reach the directory, and a concurrent pytest session closes /tmp/pytest-of-<user> again.
    base = Path(tempfile.mkdtemp(prefix="gv-lifecycle-"))
    data = base / "data"
    yield data
    # Whatever a failed test left behind: no server may outlive it on a shared machine.
    left = _postgres_of(data / "pgdata")
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGQUIT)  # immediate shutdown
    psutil.wait_procs(left, timeout=10)
    shutil.rmtree(base, ignore_errors=True)


async def test_start_after_kill_9_stops_the_orphaned_server_and_sigterm_leaves_none(
    data_dir: Path,
) -> None:
    pgdata = data_dir / "pgdata"
    first = Platform(data_dir)
    try:
        await first.wait_healthy()
        orphan = _postmaster(pgdata)
    finally:
        first.kill()
    # kill -9 cannot stop the server: it is a daemon of its own, left running on DATA_DIR.
    assert orphan.is_running() and orphan.status() != psutil.STATUS_ZOMBIE
    assert _postgres_of(pgdata)

    second = Platform(data_dir)
    try:
        await second.wait_healthy()
        serving = _postmaster(pgdata).pid
        await second.terminate(within=30)
    finally:
        second.kill()
    assert _postgres_of(pgdata) == [], second.output()
    assert not (pgdata / "postmaster.pid").exists()
    # Stopped and started afresh, not adopted (see db/embedded.py for why).
    assert serving != orphan.pid
    assert "left running by a platform that did not shut down" in second.output()


async def test_sigterm_under_load_ends_in_order_within_the_grace(data_dir: Path) -> None:
    platform = Platform(data_dir)
    try:
        await platform.wait_healthy()
        db = await _connect_db(data_dir)
        try:
            # One chat gets a message a second: 90 of them are a minute and a half of sends.
            await db.execute(
                "INSERT INTO ops.outbox (chat_id, template, params) "
                "SELECT $1, 'notify.test', jsonb_build_object('text', 'n' || g) "
                "FROM generate_series(1, 90) AS g",
                ANN_CHAT,
            )
            deadline = time.monotonic() + 30
            while not await db.fetchval("SELECT count(*) FROM ops.outbox WHERE status = 'sent'"):
                assert time.monotonic() < deadline, "the outbox did not start sending"
                await asyncio.sleep(0.2)
        finally:
            await db.close()

        # The default grace is 5 s; the rest of the shutdown takes about a second when idle.
        elapsed = await platform.terminate(within=15)
    finally:
        platform.kill()
    output = platform.output()
    steps = [
        "shutting down",
        "shutdown: bot polling stopped",
        "shutdown: scheduler stopped",
        "shutdown: HTTP server stopped",
        "shutdown: bot updates finished",
        "shutdown: outbox delivery stopped",
        "shutdown: bot session closed",
        "shutdown: transfer batcher closed",
        "shutdown: database pool closed",
        "shutdown: stopping the local Telegram",
        "shutdown: embedded PostgreSQL stopped",
    ]
    positions = [output.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), output
    assert elapsed < 15
    assert _postgres_of(data_dir / "pgdata") == []


async def _connect_db(data_dir: Path) -> asyncpg.Connection:
    """The embedded server as its superuser, over the socket named in postmaster.pid."""
    socket_dir = (data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[4]
    return await asyncpg.connect(host=socket_dir, user="postgres", database="goodvibe")


async def _post_half(
    port: int, path: str, headers: dict[str, str], body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A slow client: a POST's headers and half its body, and nothing more."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(head.encode() + b"\r\n" + body[: len(body) // 2])
    await writer.drain()
    return reader, writer


async def test_sigterm_answers_a_request_under_way_and_cuts_a_stalled_one_at_the_grace(
    data_dir: Path,
) -> None:
    platform = Platform(data_dir, SHUTDOWN_GRACE_SECONDS="2")
    url = f"http://127.0.0.1:{platform.port}/api/v1/me"
    try:
        await platform.wait_healthy()
        token = (data_dir / "local_bot_token").read_text().strip()
        auth = {"Authorization": f"tma {sign_init_data(token, {'id': 4242, 'first_name': 'Ann'})}"}
        db = await _connect_db(data_dir)
        async with aiohttp.ClientSession() as http:
            # A request that waits on the database: the test holds a lock it needs.
            lock = db.transaction()
            await lock.start()
            await db.execute("LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE")
            under_way = asyncio.create_task(http.get(url, headers=auth))
            stalled, stalled_writer = await _post_half(
                platform.port,
                "/api/v1/transfers",
                {**auth, "Idempotency-Key": "k1", "Content-Type": "application/json"},
                b'{"recipient": "@someone", "amount": "1"}',
            )
            await asyncio.sleep(1)
            assert not under_way.done()

            began = time.monotonic()
            platform.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(1)
            with pytest.raises(OSError):  # the listener is closed: nothing new comes in
                await asyncio.open_connection("127.0.0.1", platform.port)
            await lock.rollback()
            await db.close()
            async with await asyncio.wait_for(under_way, 10) as response:
                body = await response.json()
            # Answered in full during the grace period, from the database.
            assert response.status == 200 and body["data"]["telegram_id"] == 4242

        # The slow client never sends the rest of its body: cut when the grace period ends.
        assert await asyncio.wait_for(stalled.read(), 10) == b""
        stalled_writer.close()
        code = await asyncio.to_thread(platform.process.wait, 15)
        elapsed = time.monotonic() - began
    finally:
        platform.kill()
    assert code == 0, platform.output()
    # The issue asks for about 10 s whatever is under way; the grace here is 2 s.
    assert elapsed < 10, (elapsed, platform.output())
