"""The user's P2P daily limit per asset: used today and left."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from services.spending_limits.schemas import DailyLimitOut
from services.spending_limits.service import daily_limits
from webapp_api.context import context_of, current_user
from webapp_api.envelope import ok
from webapp_api.registry import Routes

routes = Routes(tag="ledger")


@routes.route(
    "GET",
    "/limits",
    summary="The user's P2P daily limit per asset: used today and left",
    response=DailyLimitOut,
    many=True,
)
async def limits(request: web.Request) -> web.Response:
    ctx = context_of(request)
    user = current_user(request)
    async with ctx.db.user(user.id) as session:
        rows = await daily_limits(session, ctx.ledger.p2p, ctx.ledger.assets)
    return ok(request, list[BaseModel](rows))
