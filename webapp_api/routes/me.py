from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from services.i18n import Language
from services.users.errors import UnsupportedLanguage, UserNotFound
from services.users.schemas import UserOut
from services.users.service import effective_language, set_language
from webapp_api.context import context_of, current_user
from webapp_api.envelope import ok
from webapp_api.parsing import read_body
from webapp_api.registry import Routes

routes = Routes(tag="users")


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language


@routes.route("GET", "/me", summary="The signed-in user's profile", response=UserOut)
async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    return ok(request, UserOut.of(user, effective_language(user)))


@routes.route(
    "PATCH",
    "/me",
    summary="Change the signed-in user's settings (the language the bot and app speak)",
    response=UserOut,
    body=ProfileUpdate,
    errors=(UnsupportedLanguage, UserNotFound),
)
async def update_me(request: web.Request) -> web.Response:
    change = await read_body(request, ProfileUpdate)
    user = current_user(request)
    async with context_of(request).db.user(user.id) as session:
        updated = await set_language(session, user.id, change.language)
    return ok(request, UserOut.of(updated, effective_language(updated)))
