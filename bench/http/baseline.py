"""`python -m bench.http.baseline bare|query PORT [DSN]`: the two baseline servers.

`bare` answers a fixed JSON envelope; `query` answers after one asyncpg unique-key read
(a user row by `telegram_id`, rotating over the bench's users) on a pool as large as the
platform's default (`DB_POOL_SIZE` = 10). Each runs alone in its own process, as the platform
does, so the load generator measures the server's whole cost.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

POOL_SIZE = 10
FIRST_TELEGRAM_ID = 10_000
USERS = 200

_READ = "SELECT id, telegram_id, username, first_name FROM auth.users WHERE telegram_id = $1"


def bare_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"success": True, "data": {"status": "ok"}})

    app = web.Application()
    app.router.add_get("/", hello)
    return app


def query_app(dsn: str) -> web.Application:
    pool_key = web.AppKey("pool", asyncpg.Pool)
    ids = itertools.cycle(range(FIRST_TELEGRAM_ID, FIRST_TELEGRAM_ID + USERS))

    async def one_read(request: web.Request) -> web.Response:
        row = await request.app[pool_key].fetchrow(_READ, next(ids))
        data = {"telegram_id": row["telegram_id"], "id": str(row["id"])} if row else None
        return web.json_response({"success": True, "data": data})

    async def pool(app: web.Application) -> AsyncIterator[None]:
        app[pool_key] = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        yield
        await app[pool_key].close()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_get("/", one_read)
    return app


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    app = bare_app() if kind == "bare" else query_app(argv[2])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(sys.argv[1:])
