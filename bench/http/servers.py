"""The servers under load, each started as its own process and stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
# High enough that neither limiter answers 429 under the bench; a one-second window keeps
# the moving window's per-key list about as long as the defaults' (1,200 entries per
# address), so the limiter still costs what it costs in production.
RATE_LIMIT = "1000000/second"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    data_dir: Path | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"BOT_TOKEN", "DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL"}
    }
    # The code measured is this checkout's, whatever the venv's editable install points at.
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


async def _wait_ready(server: Server, path: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.name} exited with {server.process.returncode}:\n"
                    + server.log.read_text()[-4000:]
                )
            try:
                async with http.get(server.url(path)) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{server.name} did not answer {path} in {seconds:.0f} s")


def _spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


@asynccontextmanager
async def running(
    name: str, argv: list[str], port: int, ready_path: str, env: dict[str, str], cwd: Path
) -> AsyncIterator[Server]:
    log = cwd / f"{name}.log"
    server = Server(name, _spawn(argv, env, cwd, log), port, log)
    process = server.process
    try:
        await _wait_ready(server, ready_path)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def baseline(kind: str, workdir: Path, dsn: str = "") -> AsyncIterator[Server]:
    """`bare` or `query` (one asyncpg read per request on `dsn`)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.http.baseline", kind, str(port)] + ([dsn] if dsn else [])
    async with running(kind, argv, port, "/", child_env(), workdir) as server:
        yield server


@asynccontextmanager
async def the_platform(
    owner_url: str, workdir: Path, role: str = "all", **settings: str
) -> AsyncIterator[Server]:
    """`python -m bot` on the bench's database, sandbox on (no BOT_TOKEN), limits raised;
    `settings` are more environment variables (REDIS_URL=...)."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
    env = child_env(
        DATA_DIR=str(data_dir),
        DATABASE_URL=owner_url,
        API_PORT=str(port),
        SANDBOX_PORT=str(free_port()),
        API_RATE_LIMIT=RATE_LIMIT,
        API_IP_RATE_LIMIT=RATE_LIMIT,
        LOG_LEVEL="WARNING",
        **settings,
    )
    argv = [sys.executable, "-m", "bot", "--role", role]
    async with running("platform", argv, port, "/api/v1/health", env, workdir) as server:
        yield replace(server, data_dir=data_dir)


def platform_token(server: Server) -> str:
    """The local bot token the platform signs initData with (kept in its DATA_DIR)."""
    assert server.data_dir is not None
    return (server.data_dir / "local_bot_token").read_text().strip()
