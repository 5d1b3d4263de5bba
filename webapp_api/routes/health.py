from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from webapp_api.context import context_of
from webapp_api.envelope import ok
from webapp_api.errors import DatabaseUnavailable
from webapp_api.registry import Routes

routes = Routes(tag="system")


class Health(BaseModel):
    status: str
    database: str
    version: str


@routes.route(
    "GET",
    "/health",
    summary="Liveness and database reachability",
    response=Health,
    auth=False,
    errors=(DatabaseUnavailable,),
)
async def health(request: web.Request) -> web.Response:
    ctx = context_of(request)
    try:
        await ctx.db.ping()
    except Exception as exc:
        raise DatabaseUnavailable("database is unreachable") from exc
    return ok(request, Health(status="ok", database="ok", version=ctx.version))
