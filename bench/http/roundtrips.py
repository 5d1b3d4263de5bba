"""`python -m bench.http.roundtrips`: database round trips per request, the platform as run.

Starts a PostgreSQL and `python -m bot --role api` (no workers, so nothing else queries)
with its statements counted (`bench/http/counted.py`), warms each request up, then sends
each one at a time and prints the statements it caused. Set `--database-url` for a server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.database import bench_server, scratch_database
from bench.http.servers import RATE_LIMIT, Server, child_env, free_port, running
from sandbox.initdata import sign_init_data
from services.users.cache import HEARTBEAT

REPEAT = 5


def _read(dump: Path) -> list[str] | None:
    if not dump.exists():
        return None
    # The identity cache's listener asks its heartbeat on its own clock, not per request.
    return [statement for statement in json.loads(dump.read_text()) if HEARTBEAT not in statement]


async def sent(server: Server, dump: Path) -> list[str]:
    await asyncio.to_thread(dump.unlink, missing_ok=True)
    server.process.send_signal(signal.SIGUSR1)
    for _ in range(100):
        if (statements := _read(dump)) is not None:
            return statements
        await asyncio.sleep(0.05)
    raise RuntimeError("the platform did not write its statements")


async def measure(
    server: Server, dump: Path, name: str, call: Callable[[int], Awaitable[int]]
) -> None:
    await call(-1)  # warm: first-time prepares and caches are not the steady state
    await asyncio.sleep(0.3)
    before = len(await sent(server, dump))
    statuses = [await call(n) for n in range(REPEAT)]
    await asyncio.sleep(0.3)
    statements = (await sent(server, dump))[before:]
    print(f"{name}: {len(statements) / REPEAT:g} round trips per request (statuses {statuses})")
    for statement in statements[: len(statements) // REPEAT]:
        print(f"    {statement}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="a superuser URL (default: embedded server)")
    args = parser.parse_args()
    if args.database_url:
        os.environ["BENCH_DATABASE_URL"] = args.database_url
    workdir = Path(tempfile.mkdtemp(prefix="gv-bench-trips-"))
    dump, data_dir, port = workdir / "queries.json", workdir / "data", free_port()
    async with bench_server() as server_url, scratch_database(server_url) as owner_url:
        env = child_env(
            DATA_DIR=str(data_dir),
            DATABASE_URL=owner_url,
            API_PORT=str(port),
            API_RATE_LIMIT=RATE_LIMIT,
            API_IP_RATE_LIMIT=RATE_LIMIT,
            LOG_LEVEL="WARNING",
            BENCH_QUERIES_FILE=str(dump),
        )
        argv = [sys.executable, "-m", "bench.http.counted", "--role", "api"]
        async with (
            running("platform", argv, port, "/api/v1/health", env, workdir) as server,
            aiohttp.ClientSession() as http,
        ):
            token = (data_dir / "local_bot_token").read_text().strip()
            users = [
                {"Authorization": "tma " + sign_init_data(token, {"id": i, "first_name": "U"})}
                for i in (1, 2)
            ]

            async def get(path: str, headers: dict[str, str]) -> int:
                async with http.get(server.url(path), headers=headers) as response:
                    await response.read()
                    return response.status

            async def transfer(n: int) -> int:
                async with http.post(
                    server.url("/api/v1/transfers"),
                    headers=users[0] | {"Idempotency-Key": f"trips-{n}"},
                    json={"recipient": "2", "amount": "10000"},
                ) as response:
                    await response.read()
                    return response.status

            for user in users:
                await get("/api/v1/me", user)
            await measure(server, dump, "GET /api/v1/health", lambda n: get("/api/v1/health", {}))
            await measure(server, dump, "GET /api/v1/me", lambda n: get("/api/v1/me", users[0]))
            await measure(server, dump, "POST /api/v1/transfers", transfer)


if __name__ == "__main__":
    asyncio.run(main())
