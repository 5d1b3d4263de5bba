"""`python -m bench.api`: the Mini App API against a bare aiohttp handler, same process, same run.

Three rates with 16 concurrent clients: a bare `web.json_response` handler (the baseline),
`GET /api/v1/health` (envelope + one database round trip) and `GET /api/v1/me` (initData
HMAC check, user upsert that writes nothing, envelope) for 200 distinct users.
"""

from __future__ import annotations

import asyncio
import os
import socket

from aiohttp import web

from bench.database import bench_server, scratch_database
from bench.load import Rate, measure
from db.database import create_database
from db.urls import app_url_from_owner
from sandbox.initdata import sign_init_data
from services.i18n import load_catalog
from webapp_api.app import create_api_app
from webapp_api.context import ApiContext

TOKEN = "7000000009:bench-token"  # noqa: S105 - a local test token
CLIENTS = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
USERS = 200


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _bare() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"success": True, "data": {"status": "ok"}})

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


def _report(name: str, rate: Rate, baseline: Rate) -> None:
    print(
        f"{name:<28} {rate.per_second:>9.0f} req/s"
        f"  ratio {rate.per_second / baseline.per_second:5.2f}"
        f"  ({rate.requests} requests, {rate.errors} errors)"
    )


async def main() -> None:
    async with bench_server() as server, scratch_database(server) as owner_url:
        db = create_database(app_url_from_owner(owner_url), pool_size=CLIENTS)
        context = ApiContext(db, load_catalog(), TOKEN, 86_400, frozenset(), "bench")
        api_runner, api_port = await _serve(create_api_app(context))
        bare_runner, bare_port = await _serve(await _bare())
        signed = [
            {
                "Authorization": "tma "
                + sign_init_data(TOKEN, {"id": 10_000 + i, "first_name": f"U{i}"})
            }
            for i in range(USERS)
        ]
        try:
            # Warm-up creates the users, so the measured /me path is the steady state.
            await measure(
                f"http://127.0.0.1:{api_port}/api/v1/me",
                lambda n: signed[n % USERS],
                clients=CLIENTS,
                seconds=2,
            )
            bare = await measure(
                f"http://127.0.0.1:{bare_port}/hello",
                lambda n: {},
                clients=CLIENTS,
                seconds=SECONDS,
            )
            health = await measure(
                f"http://127.0.0.1:{api_port}/api/v1/health",
                lambda n: {},
                clients=CLIENTS,
                seconds=SECONDS,
            )
            me = await measure(
                f"http://127.0.0.1:{api_port}/api/v1/me",
                lambda n: signed[n % USERS],
                clients=CLIENTS,
                seconds=SECONDS,
            )
        finally:
            await api_runner.cleanup()
            await bare_runner.cleanup()
            await db.dispose()
    print(
        f"Mini App API, {CLIENTS} concurrent clients, {SECONDS:.0f} s each,"
        " client and server in one process"
    )
    _report("bare aiohttp handler", bare, bare)
    _report("GET /api/v1/health", health, bare)
    _report("GET /api/v1/me (auth+upsert)", me, bare)


if __name__ == "__main__":
    asyncio.run(main())
