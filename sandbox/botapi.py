"""A local server that speaks the Telegram Bot API over HTTP.

The bot points at it with TELEGRAM_API_BASE. It answers exactly as Telegram shapes its replies
(`{ok, result}` / `{ok: false, error_code, description}`), keeps the chats it has seen, queues
updates for getUpdates, records every call (tests assert on them) and can be told to fail the
way Telegram fails (429 with retry_after, 403 blocked, 400 chat not found).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: dict[str, Any]


@dataclass
class InjectedFailure:
    method: str
    error_code: int
    description: str
    chat_id: int | None = None
    retry_after: int | None = None
    times: int = 1


class TelegramError(Exception):
    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _decode(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


@dataclass
class BotApiServer:
    token: str
    username: str = "goodvibe_local_bot"
    first_name: str = "Good Vibe Live"
    calls: list[ApiCall] = field(default_factory=list)
    failures: list[InjectedFailure] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook_url: str = ""
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: dict[int, itertools.count[int]] = field(
        default_factory=lambda: defaultdict(lambda: itertools.count(1))
    )
    _new_update: asyncio.Condition = field(default_factory=asyncio.Condition)
    _callback_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    # --- the HTTP side -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await self._params(request)
        name = request.match_info["method"]
        method = getattr(self, f"api_{name.lower()}", None)
        self.calls.append(ApiCall(name, params))
        if method is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        try:
            self._maybe_fail(name, params)
            result = await method(params)
        except TelegramError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.error_code,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.error_code)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(v) for k, v in request.query.items()}
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body or {})
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                params[key] = _decode(value) if isinstance(value, str) else value
        return params

    def _maybe_fail(self, method: str, params: dict[str, Any]) -> None:
        for failure in self.failures:
            if failure.method.lower() != method.lower():
                continue
            if failure.chat_id is not None and str(failure.chat_id) != str(params.get("chat_id")):
                continue
            failure.times -= 1
            if failure.times <= 0:
                self.failures.remove(failure)
            extra = (
                {"retry_after": failure.retry_after} if failure.retry_after is not None else None
            )
            raise TelegramError(failure.error_code, failure.description, extra)

    # --- failure injection -----------------------------------------------------------------

    def fail_too_many_requests(
        self, method: str, retry_after: int, *, chat_id: int | None = None
    ) -> None:
        self.failures.append(
            InjectedFailure(
                method, 429, f"Too Many Requests: retry after {retry_after}", chat_id, retry_after
            )
        )

    def fail_blocked(self, method: str, chat_id: int, *, times: int = 1_000_000) -> None:
        self.failures.append(
            InjectedFailure(
                method, 403, "Forbidden: bot was blocked by the user", chat_id, times=times
            )
        )

    def fail_chat_not_found(self, method: str, chat_id: int) -> None:
        self.failures.append(InjectedFailure(method, 400, "Bad Request: chat not found", chat_id))

    # --- what tests and the web chat read ---------------------------------------------------

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    # --- updates: what a person does -------------------------------------------------------

    async def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        async with self._new_update:
            self.updates.append(update)
            self._new_update.notify_all()
        return update

    def _message_id(self, chat_id: int) -> int:
        return next(self._message_ids[chat_id])

    async def user_sends(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._message_id(user["id"]),
            "date": int(time.time()),
            "chat": {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self.push_update({"message": message})

    async def user_presses(
        self, user: dict[str, Any], message: dict[str, Any], data: str
    ) -> dict[str, Any]:
        query = {
            "id": str(next(self._callback_ids)),
            "from": user,
            "chat_instance": str(user["id"]),
            "message": message,
            "data": data,
        }
        return await self.push_update({"callback_query": query})

    # --- Bot API methods ---------------------------------------------------------------------

    async def api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 50.0)
        limit = int(params.get("limit") or 100)

        def pending() -> list[dict[str, Any]]:
            return [u for u in self.updates if u["update_id"] >= offset][:limit]

        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        async with self._new_update:
            if not pending() and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._new_update.wait_for(lambda: bool(pending())), timeout
                    )
        return pending()

    async def api_setwebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    async def api_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        return True

    async def api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    async def api_setmycommands(self, params: dict[str, Any]) -> bool:
        self.commands[str(params.get("language_code") or "")] = list(params.get("commands") or [])
        return True

    async def api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(str(params.get("language_code") or ""), [])

    async def api_deletemycommands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(str(params.get("language_code") or ""), None)
        return True

    async def api_setchatmenubutton(self, params: dict[str, Any]) -> bool:
        return True

    async def api_sendchataction(self, params: dict[str, Any]) -> bool:
        return True

    async def api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        return True

    def _chat_id(self, params: dict[str, Any]) -> int:
        try:
            return int(params["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise TelegramError(400, "Bad Request: chat_id is empty") from None

    async def api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise TelegramError(400, "Bad Request: message text is empty")
        message: dict[str, Any] = {
            "message_id": self._message_id(chat_id),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.bot_user(),
            "text": text,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or 0),
            "date": int(time.time()),
            "edit_date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.bot_user(),
            "text": str(params.get("text") or ""),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        return {
            "message_id": int(params.get("message_id") or 0),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.bot_user(),
            "text": "",
            **({"reply_markup": params["reply_markup"]} if params.get("reply_markup") else {}),
        }

    async def api_deletemessage(self, params: dict[str, Any]) -> bool:
        self._chat_id(params)
        return True
