"""The user's referral links, levels and referees."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from services.purchases.errors import TelegramUnavailable
from services.referrals.schemas import RefereeOut, ReferralsOut
from services.referrals.service import downline, summary
from services.validation import InvalidCursor
from webapp_api.context import context_of, current_user
from webapp_api.envelope import Pagination, ok
from webapp_api.parsing import read_query
from webapp_api.registry import Routes

routes = Routes(tag="referrals")


class DownlineQuery(BaseModel):
    level: int = Field(ge=1, le=8, description="1: people you invited, 2: theirs, ...")
    cursor: str | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page"
    )
    limit: int = Field(default=20, ge=1, le=100)


@routes.route(
    "GET",
    "/referrals",
    summary="The user's referral links, and referees and rewards for each of the 8 levels",
    response=ReferralsOut,
    # With BOT_USERNAME unset the links need Telegram's getMe.
    errors=(TelegramUnavailable,),
)
async def referrals(request: web.Request) -> web.Response:
    ctx = context_of(request)
    user = current_user(request)
    username = await ctx.purchases.username()
    async with ctx.db.user(user.id) as session:
        out = await summary(session, user, bot_username=username, app_name=ctx.purchases.app_name)
    return ok(request, out)


@routes.route(
    "GET",
    "/referrals/downline",
    summary="The user's referees at one level: public profile fields and join date only",
    response=RefereeOut,
    query=DownlineQuery,
    paginated=True,
    # A level outside 1..8 is refused by the query's own bounds (validation_error, like every
    # out-of-range parameter); InvalidLevel guards the service's other callers.
    errors=(InvalidCursor,),
)
async def referees(request: web.Request) -> web.Response:
    query = read_query(request, DownlineQuery)
    user = current_user(request)
    async with context_of(request).db.user(user.id) as session:
        page = await downline(session, level=query.level, cursor=query.cursor, limit=query.limit)
    pagination = Pagination(
        next_cursor=page.next_cursor, has_more=page.next_cursor is not None, limit=query.limit
    )
    return ok(request, list[BaseModel](page.items), pagination=pagination)
