"""Assets, balances and history of the signed-in user."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from services.ledger.balances import balances as user_balances
from services.ledger.history import history
from services.ledger.schemas import AssetOut, BalanceOut, TransactionOut
from services.validation import InvalidCursor
from webapp_api.context import context_of, current_user
from webapp_api.envelope import Pagination, ok
from webapp_api.parsing import read_query
from webapp_api.registry import Routes

routes = Routes(tag="ledger")


class HistoryQuery(BaseModel):
    asset: str | None = Field(
        default=None, pattern=r"^[A-Za-z][A-Za-z0-9]{1,11}$", description="Only this asset"
    )
    cursor: str | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page"
    )
    limit: int = Field(default=20, ge=1, le=100)


@routes.route(
    "GET", "/assets", summary="Assets known to the ledger", response=AssetOut, many=True, auth=False
)
async def assets(request: web.Request) -> web.Response:
    ctx = context_of(request)
    async with ctx.db.service() as session:
        known = await ctx.ledger.assets.all(session)
    return ok(
        request,
        [
            AssetOut(code=a.code, name=a.name, decimals=a.decimals, transferable=a.transferable)
            for a in known.values()
        ],
    )


@routes.route(
    "GET",
    "/balances",
    summary="The user's balance in every asset",
    response=BalanceOut,
    many=True,
)
async def balances(request: web.Request) -> web.Response:
    user = current_user(request)
    async with context_of(request).db.user(user.id) as session:
        rows = await user_balances(session)
    return ok(request, list[BaseModel](rows))


@routes.route(
    "GET",
    "/transactions",
    summary="The user's transactions, newest first",
    response=TransactionOut,
    query=HistoryQuery,
    paginated=True,
    errors=(InvalidCursor,),
)
async def transactions(request: web.Request) -> web.Response:
    query = read_query(request, HistoryQuery)
    user = current_user(request)
    asset = query.asset.upper() if query.asset else None
    async with context_of(request).db.service() as session:
        page = await history(session, user.id, asset=asset, cursor=query.cursor, limit=query.limit)
    pagination = Pagination(
        next_cursor=page.next_cursor, has_more=page.next_cursor is not None, limit=query.limit
    )
    return ok(request, list[BaseModel](page.items), pagination=pagination)
