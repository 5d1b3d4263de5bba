from __future__ import annotations

from aiohttp import web

from services.users.schemas import UserOut
from services.users.service import effective_language
from webapp_api.context import current_user
from webapp_api.envelope import ok
from webapp_api.registry import Routes

routes = Routes(tag="users")


@routes.route(
    "GET",
    "/me",
    summary="The signed-in user's profile",
    response=UserOut,
    errors=("auth_missing", "auth_malformed", "auth_bad_signature", "auth_expired", "user_banned"),
)
async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    return ok(request, UserOut.of(user, effective_language(user)))
