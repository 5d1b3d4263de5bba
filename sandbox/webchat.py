"""The web chat: a page where a person acts as a Telegram user, and the JSON it talks to.

The page does what a Telegram client does and nothing more: it shows the chat as the bot left
it, turns taps into updates, pays invoices through the simulated Stars flow and opens the Mini
App with initData signed for the chosen user as Telegram signs it: the HMAC `hash` from the
local bot token and the Ed25519 `signature` from the sandbox's published key.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from importlib import resources
from typing import Any
from urllib.parse import quote

from aiohttp import web

from sandbox.botapi import BotApiServer, TelegramError
from sandbox.initdata import sign_init_data
from sandbox.state import ChatLog, LocalUser

SERVER = web.AppKey("sandbox_server", BotApiServer)
WEBAPP_URL = web.AppKey("sandbox_webapp_url", str)
STATIC = resources.files("sandbox") / "static"
# How long a page's read of the chat waits for something new before answering "no change".
LONG_POLL_SECONDS = 20.0
# The light theme the web chat passes to the Mini App, as Telegram passes the client's theme.
THEME = {
    "bg_color": "#ffffff",
    "text_color": "#0f1419",
    "hint_color": "#707579",
    "link_color": "#3390ec",
    "button_color": "#3390ec",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#f4f4f5",
    "header_bg_color": "#ffffff",
    "accent_text_color": "#3390ec",
    "section_bg_color": "#ffffff",
    "section_header_text_color": "#3390ec",
    "subtitle_text_color": "#707579",
    "destructive_text_color": "#e53935",
}
FIRST_LOCAL_ID = 100_000_001
ACTION_SECONDS = 5.0
_LANGUAGES = ("en", "ru", "de", "es", "uk")


def add_routes(app: web.Application, server: BotApiServer, *, webapp_url: str) -> None:
    """`webapp_url` is the Mini App a `startapp` link opens (the bot's main Mini App)."""
    app[SERVER] = server
    app[WEBAPP_URL] = webapp_url
    app.router.add_get("/", _redirect_home)
    app.router.add_get("/sandbox", _redirect_home)
    app.router.add_get("/sandbox/", _page)
    app.router.add_get("/sandbox/telegram-web-app.js", _shim)
    app.router.add_get("/sandbox/static/{name}", _static)
    app.router.add_get("/sandbox/api/bot", _bot)
    app.router.add_get("/sandbox/api/initdata-key", _initdata_key)
    app.router.add_get("/sandbox/api/users", _users)
    app.router.add_post("/sandbox/api/users", _create_user)
    app.router.add_get("/sandbox/api/chats/{user_id:\\d+}", _chat)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/send", _send)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/press", _press)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/pay", _pay)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/inline", _inline)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/inline/choose", _choose_inline)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/prepared", _share_prepared)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/block", _block)
    app.router.add_post("/sandbox/api/chats/{user_id:\\d+}/webapp", _webapp)
    app.router.add_get("/sandbox/api/invoices/{slug}", _invoice)
    app.router.add_get("/sandbox/api/files/{file_id}", _file)


def seed_users(server: BotApiServer) -> None:
    """Two people to start with, so a newcomer can chat (and send tokens) in one click."""
    for user in (
        LocalUser(FIRST_LOCAL_ID, "Ann", "Lee", "ann_local", "en", is_premium=True),
        LocalUser(FIRST_LOCAL_ID + 1, "Boris", None, "boris_local", "ru"),
    ):
        server.state.users.setdefault(user.id, user)


def _server(request: web.Request) -> BotApiServer:
    return request.app[SERVER]


def _user(request: web.Request) -> LocalUser:
    user = _server(request).state.users.get(int(request.match_info["user_id"]))
    if user is None:
        raise web.HTTPNotFound(text="no such local user; create one first")
    return user


async def _body(request: web.Request) -> dict[str, Any]:
    # JSON only: a form or text/plain post from another site's page cannot act as a user.
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send JSON")
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


async def _redirect_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/sandbox/" + (f"?{request.query_string}" if request.query_string else ""))


async def _page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(str(STATIC / "webchat.html"), headers={"Cache-Control": "no-store"})


async def _shim(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        str(STATIC / "telegram-web-app.js"),
        headers={"Content-Type": "application/javascript", "Cache-Control": "no-store"},
    )


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(str(path), headers={"Cache-Control": "no-store"})


async def _bot(request: web.Request) -> web.Response:
    server = _server(request)
    return web.json_response(
        {**server.bot_user(), "languages": list(_LANGUAGES), "webapp_url": request.app[WEBAPP_URL]}
    )


async def _initdata_key(request: web.Request) -> web.Response:
    """What a third party needs to check initData without the bot token (Telegram publishes
    its production and test keys the same way: raw Ed25519 public keys in hex)."""
    server = _server(request)
    return web.json_response(
        {"bot_id": server.bot_id, "algorithm": "Ed25519", "public_key": server.initdata_public_key}
    )


async def _users(request: web.Request) -> web.Response:
    users = sorted(_server(request).state.users.values(), key=lambda u: u.id)
    return web.json_response([asdict(user) for user in users])


async def _create_user(request: web.Request) -> web.Response:
    body = await _body(request)
    state = _server(request).state
    first_name = str(body.get("first_name") or "").strip()[:64]
    if not first_name:
        raise web.HTTPBadRequest(text="a first name is required")
    try:
        user_id = int(body.get("id") or max([FIRST_LOCAL_ID - 1, *state.users]) + 1)
    except ValueError:
        raise web.HTTPBadRequest(text="the id must be a number") from None
    if not 0 < user_id < 2**52:
        raise web.HTTPBadRequest(text="the id must be a positive Telegram user id")
    username = str(body.get("username") or "").strip().lstrip("@")[:32] or None
    user = LocalUser(
        id=user_id,
        first_name=first_name,
        last_name=str(body.get("last_name") or "").strip()[:64] or None,
        username=username,
        language_code=str(body.get("language_code") or "en")[:8],
        is_premium=bool(body.get("is_premium")),
    )
    state.users[user.id] = user
    state.save_users()
    return web.json_response(asdict(user), status=201)


async def _chat(request: web.Request) -> web.Response:
    user = _user(request)
    server = _server(request)
    state = server.state
    try:
        version = int(request.query.get("version", "-1"))
    except ValueError:
        version = -1
    if version == state.chat(user.id).version:
        await state.wait_for_change(user.id, version, LONG_POLL_SECONDS)
    log = state.chat(user.id)
    commands = server.private_chat_commands(user.id, user.language_code)
    return web.json_response(
        {
            "version": log.version,
            "messages": log.messages,
            "notices": log.notices,
            "reply_keyboard": log.reply_keyboard,
            "commands": commands,
            "blocked": user.id in state.blocked,
            "action": _current_action(log),
        }
    )


def _current_action(log: ChatLog) -> str | None:
    """Telegram shows a chat action for 5 seconds or until the bot's next message."""
    if log.action is None:
        return None
    action, since, last_id = log.action
    if time.time() - since > ACTION_SECONDS or log.last_message_id() != last_id:
        return None
    return action


async def _send(request: web.Request) -> web.Response:
    user = _user(request)
    text = str((await _body(request)).get("text") or "").strip()
    if not text:
        raise web.HTTPBadRequest(text="nothing to send")
    update = await _server(request).user_sends(user.telegram(), text[:4096])
    return web.json_response({"update_id": update["update_id"]})


async def _press(request: web.Request) -> web.Response:
    user = _user(request)
    body = await _body(request)
    server = _server(request)
    message = server.state.chat(user.id).find(int(body.get("message_id") or 0))
    if message is None:
        raise web.HTTPNotFound(text="that message is gone")
    update = await server.user_presses(user.telegram(), message, str(body.get("data") or ""))
    return web.json_response({"update_id": update["update_id"]})


async def _inline(request: web.Request) -> web.Response:
    """The person typed `@bot <query>`: what the bot answered (results, button), or 504."""
    user = _user(request)
    query = str((await _body(request)).get("query") or "")
    answer = await _server(request).user_inline_query(user.telegram(), query)
    if answer is None:
        raise web.HTTPGatewayTimeout(text="the bot did not answer the inline query")
    return web.json_response(answer)


async def _choose_inline(request: web.Request) -> web.Response:
    user = _user(request)
    result_id = str((await _body(request)).get("result_id") or "")
    try:
        message = await _server(request).user_chooses_inline(user.telegram(), result_id)
    except TelegramError as exc:
        raise web.HTTPBadRequest(text=exc.description) from None
    return web.json_response({"message_id": message["message_id"]})


async def _share_prepared(request: web.Request) -> web.Response:
    """The Mini App's shareMessage, confirmed by the person."""
    user = _user(request)
    prepared_id = str((await _body(request)).get("id") or "")
    try:
        message = await _server(request).user_shares_prepared(user.telegram(), prepared_id)
    except TelegramError as exc:
        raise web.HTTPBadRequest(text=exc.description) from None
    return web.json_response({"message_id": message["message_id"]})


async def _pay(request: web.Request) -> web.Response:
    user = _user(request)
    slug = str((await _body(request)).get("slug") or "")
    outcome = await _server(request).user_pays(user.telegram(), slug)
    return web.json_response(asdict(outcome))


async def _block(request: web.Request) -> web.Response:
    user = _user(request)
    blocked = bool((await _body(request)).get("blocked"))
    await _server(request).user_blocks(user.telegram(), blocked)
    return web.json_response({"blocked": blocked})


async def _invoice(request: web.Request) -> web.Response:
    invoice = _server(request).state.invoices.get(request.match_info["slug"])
    if invoice is None:
        raise web.HTTPNotFound(text="no such invoice")
    return web.json_response(asdict(invoice))


async def _webapp(request: web.Request) -> web.Response:
    """The Mini App's launch URL, with launch parameters in the fragment as Telegram puts them."""
    user = _user(request)
    body = await _body(request)
    url = str(body.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise web.HTTPBadRequest(text="a web_app url is http(s)")
    start_param = str(body.get("start_param") or "") or None
    server = _server(request)
    init_data = sign_init_data(
        server.token,
        user.web_app_user(),
        start_param=start_param,
        signing_key=server.initdata_key,
    )
    fragment = "&".join(
        [
            f"tgWebAppData={quote(init_data, safe='')}",
            "tgWebAppVersion=8.0",
            "tgWebAppPlatform=web",
            # The bot has inline mode: the Mini App may call switchInlineQuery.
            "tgWebAppBotInline=1",
            f"tgWebAppThemeParams={quote(json.dumps(THEME, separators=(',', ':')), safe='')}",
            *([f"tgWebAppStartParam={quote(start_param, safe='')}"] if start_param else []),
        ]
    )
    return web.json_response({"url": f"{url.split('#', 1)[0]}#{fragment}", "init_data": init_data})


async def _file(request: web.Request) -> web.StreamResponse:
    stored = _server(request).state.files.get(request.match_info["file_id"])
    if stored is None:
        raise web.HTTPNotFound()
    if stored.data is None and stored.url:
        raise web.HTTPFound(stored.url)
    return web.Response(
        body=stored.data or b"", content_type=stored.mime_type or "application/octet-stream"
    )
