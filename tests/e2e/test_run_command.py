"""The README's run command, as a person runs it: a fresh DATA_DIR, no settings, no network."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from sandbox.initdata import sign_init_data

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"BOT_TOKEN", "DATABASE_URL", "APP_DATABASE_URL", "APP_USER_DATABASE_URL"}
    }
    # The code under test is this checkout's, whatever the venv's editable install points at.
    env.update(DATA_DIR=str(data_dir), API_PORT=str(port), LOG_LEVEL="INFO", PYTHONPATH=str(ROOT))
    return env


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=_env(tmp_path / "data", port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield process, tmp_path / "data", port
    if process.poll() is None:
        process.kill()
        process.wait()


async def _wait_healthy(
    port: int, process: subprocess.Popen[bytes], seconds: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                async with http.get(f"http://127.0.0.1:{port}/api/v1/health") as response:
                    return await response.json()  # type: ignore[no-any-return]
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.3)
    raise AssertionError("the platform did not come up")


async def test_run_command_serves_health_and_me_then_stops_cleanly(
    platform: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    process, data_dir, port = platform
    health = await _wait_healthy(port, process)
    assert health["success"] is True and health["data"]["status"] == "ok"  # type: ignore[index]

    token = (data_dir / "local_bot_token").read_text().strip()
    signed = sign_init_data(token, {"id": 4242, "first_name": "Local"})
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"tma {signed}"}
        ) as response:
            body = await response.json()
            assert response.status == 200 and body["data"]["telegram_id"] == 4242, body
        tampered = signed.replace("Local", "Admin")
        async with http.get(
            f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"tma {tampered}"}
        ) as response:
            body = await response.json()
            assert response.status == 401 and body["error"]["code"] == "auth_bad_signature"

    second = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot"],
        cwd=data_dir.parent,
        env=_env(data_dir, _free_port()),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    assert b"is in use by" in second.stderr

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def test_bad_setting_fails_at_start_with_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", _free_port()) | {"API_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "API_PORT" in lines[0]


def test_migrate_command_runs_alone(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=tmp_path,
        env=_env(tmp_path / "data", _free_port()),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"migrations applied" in result.stdout


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", _free_port()) | {
        "DATABASE_URL": f"postgresql://x:secret@127.0.0.1:{_free_port()}/db"
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "cannot use the database" in lines[0] and "secret" not in lines[0]
