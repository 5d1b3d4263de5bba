"""A local server that speaks the Telegram Bot API over HTTP.

The bot points at it with TELEGRAM_API_BASE. It answers exactly as Telegram shapes its replies
(`{ok, result}` / `{ok: false, error_code, description}`), keeps the chats it has seen (the web
chat reads them from `state`), queues updates for getUpdates, records every call (tests assert
on them) and can be told to fail the way Telegram fails (429 with retry_after, 403 blocked,
400 chat not found).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.formatting import EntityParseError, render_text
from sandbox.initdata import public_key_hex
from sandbox.media import image_size
from sandbox.state import LocalUser, Payment, SandboxState, StoredFile

# Parameters Telegram accepts as JSON-serialized strings in form or query data. Everything else
# stays a string, so a message text that happens to look like JSON is still a text.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "button",
        "result",
        "entities",
        "caption_entities",
        "prices",
        "commands",
        "allowed_updates",
        "media",
        "link_preview_options",
        "reply_parameters",
        "scope",
        "menu_button",
        "results",
        "suggested_tip_amounts",
        "reaction",
    }
)
_BLOCKED = "Forbidden: bot was blocked by the user"
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
MAX_TEXT = 4096
MAX_CAPTION = 1024


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


@dataclass(frozen=True)
class PaymentOutcome:
    """How a simulated Stars payment ended, as the paying client learns it."""

    status: str  # "paid" | "declined" | "timeout" | "failed"
    charge_id: str | None = None
    error_message: str | None = None


class TelegramError(Exception):
    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def bad_request(description: str) -> TelegramError:
    return TelegramError(
        400, description if description.startswith("Bad Request") else f"Bad Request: {description}"
    )


# A BotCommandScope reduced to what tells two scopes apart: its type, then chat_id, user_id.
CommandScope = tuple[str | int, ...]
_SCOPE_FIELDS = {
    "default": (),
    "all_private_chats": (),
    "all_group_chats": (),
    "all_chat_administrators": (),
    "chat": ("chat_id",),
    "chat_administrators": ("chat_id",),
    "chat_member": ("chat_id", "user_id"),
}


def _commands_key(params: dict[str, Any]) -> tuple[CommandScope, str]:
    scope = params.get("scope") or {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_FIELDS:
        raise bad_request("can't parse BotCommandScope JSON object")
    kind = str(scope["type"])
    values: list[str | int] = [kind]
    for name in _SCOPE_FIELDS[kind]:
        value = scope.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        try:
            values.append(int(value))  # 42 and "42" are the same chat
        except (TypeError, ValueError):
            values.append(str(value))  # an @username
    return tuple(values), str(params.get("language_code") or "")


_INLINE_TYPES = frozenset(
    {"article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document", "location"}
    | {"venue", "contact", "game", "sticker"}
)


def _check_inline_result(result: Any, seen: set[str]) -> None:
    """What Telegram refuses in an InlineQueryResult (the kinds this bot may send)."""
    if not isinstance(result, dict) or result.get("type") not in _INLINE_TYPES:
        raise bad_request("RESULT_TYPE_INVALID")
    result_id = str(result.get("id") or "")
    if not 1 <= len(result_id.encode()) <= 64:
        raise bad_request("RESULT_ID_INVALID")
    if result_id in seen:
        raise bad_request("RESULT_ID_DUPLICATE")
    seen.add(result_id)
    if result["type"] == "article":
        content = result.get("input_message_content")
        if not result.get("title") or not isinstance(content, dict):
            raise bad_request("RESULT_TITLE_EMPTY" if not result.get("title") else "MESSAGE_EMPTY")
        if not str(content.get("message_text") or "").strip():
            raise bad_request("MESSAGE_EMPTY")


def _decode(key: str, value: str) -> Any:
    if key in _JSON_FIELDS and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(f"can't parse {key} JSON object") from None
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
    allowed_updates: list[str] | None = None
    # One command list per (scope, language_code), as Telegram keeps them.
    commands: dict[tuple[CommandScope, str], list[dict[str, Any]]] = field(default_factory=dict)
    state: SandboxState = field(default_factory=SandboxState)
    # Signs the initData `signature` as Telegram's key does; its public half is published.
    initdata_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    # Telegram cancels a purchase the bot does not confirm within 10 seconds.
    pre_checkout_timeout: float = 10.0
    # A long-running local sandbox keeps only the newest calls; tests keep them all.
    max_calls: int | None = None
    _new_update: asyncio.Condition = field(default_factory=asyncio.Condition)
    _callback_chats: dict[str, int] = field(default_factory=dict)
    _answered_callbacks: set[str] = field(default_factory=set)
    _pre_checkouts: dict[str, asyncio.Future[tuple[bool, str | None]]] = field(default_factory=dict)
    # Inline mode (BotFather /setinline): a query waits this long for answerInlineQuery, as
    # a client gives up on a bot that does not answer.
    inline_timeout: float = 10.0
    # BotFather /setinlinefeedback: only then does Telegram send chosen_inline_result.
    inline_feedback: bool = False
    _inline_queries: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    # Each person's last answered query, so a chosen result is the bot's, not the client's.
    _inline_answers: dict[int, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)
    # savePreparedInlineMessage: id -> (user id, result, expiry), for the Mini App's shareMessage.
    _prepared: dict[str, tuple[int, dict[str, Any], float]] = field(default_factory=dict)

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    @property
    def initdata_public_key(self) -> str:
        return public_key_hex(self.initdata_key)

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
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        name = request.match_info["method"]
        try:
            params = await self._params(request)
        except TelegramError as exc:
            return self._error(exc)
        method = getattr(self, f"api_{name.lower()}", None)
        self.calls.append(ApiCall(name, params))
        if self.max_calls is not None and len(self.calls) > self.max_calls:
            del self.calls[: len(self.calls) - self.max_calls]
        if method is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        try:
            self._maybe_fail(name, params)
            result = await method(params)
            self.state.revision += 1  # any method may have changed what is kept
        except TelegramError as exc:
            return self._error(exc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Malformed parameters get a 400 as from Telegram, never a 500 from the sandbox.
            return self._error(bad_request(f"invalid parameters: {exc}"))
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(exc: TelegramError) -> web.Response:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": exc.error_code,
            "description": exc.description,
        }
        if exc.parameters:
            body["parameters"] = exc.parameters
        return web.json_response(body, status=exc.error_code)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise bad_request("can't parse JSON body") from None
            params.update(body or {})
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                params[key] = _decode(key, value) if isinstance(value, str) else value
        return params

    async def _download(self, request: web.Request) -> web.StreamResponse:
        stored = self.state.file_by_path(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None or stored.data is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    def _maybe_fail(self, method: str, params: dict[str, Any]) -> None:
        blocked = {str(chat_id) for chat_id in self.state.blocked}
        if method.lower().startswith("send") and str(params.get("chat_id")) in blocked:
            raise TelegramError(403, _BLOCKED)
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
        self.failures.append(InjectedFailure(method, 403, _BLOCKED, chat_id, times=times))

    def fail_chat_not_found(self, method: str, chat_id: int) -> None:
        self.failures.append(InjectedFailure(method, 400, "Bad Request: chat not found", chat_id))

    # --- what tests and the web chat read ---------------------------------------------------

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    # --- updates: what a person does -------------------------------------------------------

    async def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self.state.next_update_id(), **payload}
        async with self._new_update:
            self.updates.append(update)
            self._new_update.notify_all()
        return update

    def _message_id(self, chat_id: int) -> int:
        return self.state.next_message_id(chat_id)

    def _remember(self, user: dict[str, Any]) -> LocalUser:
        """A person who writes to the bot is known from then on, as Telegram knows them."""
        known = self.state.users.get(int(user["id"]))
        if known is None:
            known = LocalUser(
                id=int(user["id"]),
                first_name=str(user.get("first_name", "")),
                last_name=user.get("last_name"),
                username=user.get("username"),
                language_code=str(user.get("language_code") or "en"),
                is_premium=bool(user.get("is_premium")),
            )
            self.state.users[known.id] = known
        return known

    def _user_message(self, user: dict[str, Any], **content: Any) -> dict[str, Any]:
        self._remember(user)
        return {
            "message_id": self._message_id(user["id"]),
            "date": int(time.time()),
            "chat": self.state.chat_object(int(user["id"])),
            "from": user,
            **content,
        }

    async def user_sends(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        message = self._user_message(user, text=text)
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        await self.state.add_message(int(user["id"]), message)
        return await self.push_update({"message": message})

    async def user_presses(
        self, user: dict[str, Any], message: dict[str, Any], data: str
    ) -> dict[str, Any]:
        query_id = str(self.state.next_callback_id())
        self._callback_chats[query_id] = int(user["id"])
        query = {
            "id": query_id,
            "from": user,
            "chat_instance": str(user["id"]),
            # What the client keeps for itself (the invoice slug) is not part of Telegram's message.
            "message": {k: v for k, v in message.items() if not k.startswith("sandbox_")},
            "data": data,
        }
        return await self.push_update({"callback_query": query})

    async def user_blocks(self, user: dict[str, Any], blocked: bool) -> dict[str, Any]:
        """Block or unblock the bot: Telegram tells the bot with a my_chat_member update."""
        self._remember(user)
        chat_id = int(user["id"])
        if blocked:
            self.state.blocked.add(chat_id)
        else:
            self.state.blocked.discard(chat_id)
        await self.state.touch(chat_id)
        statuses = ("member", "kicked") if blocked else ("kicked", "member")
        member: list[dict[str, Any]] = [
            {"status": status, "user": self.bot_user()} for status in statuses
        ]
        if blocked:
            member[1]["until_date"] = 0
        return await self.push_update(
            {
                "my_chat_member": {
                    "chat": self.state.chat_object(chat_id),
                    "from": user,
                    "date": int(time.time()),
                    "old_chat_member": member[0],
                    "new_chat_member": member[1],
                }
            }
        )

    async def user_pays(
        self, user: dict[str, Any], slug: str, *, deliver: bool = True
    ) -> PaymentOutcome:
        """A simulated Stars payment: pre_checkout_query, the bot's answer, successful_payment.
        `deliver=False`: Telegram took the Stars but the bot never got the successful_payment
        update (a webhook that answered 200 and crashed): only getStarTransactions tells."""
        invoice = self.state.invoices.get(slug)
        if invoice is None:
            return PaymentOutcome("failed", error_message="This invoice does not exist.")
        self._remember(user)
        query_id = secrets.token_hex(8)
        answered: asyncio.Future[tuple[bool, str | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pre_checkouts[query_id] = answered
        await self.push_update(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": user,
                    "currency": invoice.currency,
                    "total_amount": invoice.total_amount,
                    "invoice_payload": invoice.payload,
                }
            }
        )
        try:
            async with asyncio.timeout(self.pre_checkout_timeout):
                ok, error_message = await answered
        except TimeoutError:
            return PaymentOutcome(
                "timeout", error_message="The bot did not confirm the payment in time."
            )
        finally:
            self._pre_checkouts.pop(query_id, None)
        if not ok:
            return PaymentOutcome("declined", error_message=error_message)
        charge_id = "stxsbx" + secrets.token_urlsafe(24)
        self.state.payments[charge_id] = Payment(
            charge_id,
            int(user["id"]),
            invoice.payload,
            invoice.currency,
            invoice.total_amount,
            date=int(time.time()),
            seq=self.state.next_star_seq(),
        )
        message = self._user_message(
            user,
            successful_payment={
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
                "invoice_payload": invoice.payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            },
        )
        await self.state.add_message(int(user["id"]), message)
        if deliver:
            await self.push_update({"message": message})
        return PaymentOutcome("paid", charge_id=charge_id)

    async def user_inline_query(
        self, user: dict[str, Any], query: str, *, offset: str = ""
    ) -> dict[str, Any] | None:
        """The person types `@bot <query>`: an inline_query update, then the bot's
        answerInlineQuery parameters (None when it does not answer in time)."""
        self._remember(user)
        if len(query) > 256:
            query = query[:256]  # Telegram's clients send at most 256 characters
        query_id = str(self.state.next_callback_id())
        answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._inline_queries[query_id] = answered
        await self.push_update(
            {
                "inline_query": {
                    "id": query_id,
                    "from": user,
                    "query": query,
                    "offset": offset,
                    # Typed in the person's private chat with the bot.
                    "chat_type": "sender",
                }
            }
        )
        try:
            answer = await asyncio.wait_for(answered, self.inline_timeout)
        except TimeoutError:
            return None
        finally:
            self._inline_queries.pop(query_id, None)
        self._inline_answers[int(user["id"])] = (query_id, query, answer)
        return answer

    async def user_chooses_inline(self, user: dict[str, Any], result_id: str) -> dict[str, Any]:
        """The person taps a result of their last inline query: the client sends its message
        (`via_bot`) to the chat; here that is the person's chat with the bot, which also
        delivers it to the bot, as Telegram does in a private chat with it."""
        last = self._inline_answers.get(int(user["id"]))
        result = None
        if last is not None:
            result = next(
                (r for r in last[2].get("results") or [] if str(r.get("id")) == result_id), None
            )
        if last is None or result is None:
            raise bad_request("RESULT_ID_INVALID")
        query_id, query, _ = last
        message = await self._send_via_bot(user, result)
        if self.inline_feedback:
            chosen: dict[str, Any] = {"result_id": result_id, "from": user, "query": query}
            if "reply_markup" in message:
                chosen["inline_message_id"] = f"{query_id}:{result_id}"
            await self.push_update({"chosen_inline_result": chosen})
        return message

    async def user_shares_prepared(self, user: dict[str, Any], prepared_id: str) -> dict[str, Any]:
        """The person confirms the Mini App's shareMessage: the prepared message is sent
        `via_bot`, here to their chat with the bot (the one chat this client has)."""
        found = self._prepared.get(prepared_id)
        if found is None or found[0] != int(user["id"]) or found[2] < time.time():
            raise bad_request("MESSAGE_ID_INVALID")
        return await self._send_via_bot(user, found[1])

    async def _send_via_bot(self, user: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        content = result.get("input_message_content") or {}
        users = {known.id: known.telegram() for known in self.state.users.values()}
        try:
            text, entities = render_text(
                str(content.get("message_text") or ""), content.get("parse_mode"), users
            )
        except EntityParseError as exc:
            raise bad_request(str(exc)) from None
        message = self._user_message(user, text=text, via_bot=self.bot_user())
        if entities:
            message["entities"] = entities
        markup = result.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        await self.state.add_message(int(user["id"]), message)
        await self.push_update({"message": message})
        return message

    # --- Bot API methods: bot and webhook ---------------------------------------------------

    async def api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    async def api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 50.0)
        limit = max(1, min(int(params.get("limit") or 100), 100))

        if isinstance(params.get("allowed_updates"), list):
            # Telegram remembers the last list it was given and drops every other kind.
            self.allowed_updates = [str(kind) for kind in params["allowed_updates"]] or None

        def wanted(update: dict[str, Any]) -> bool:
            allowed = self.allowed_updates
            return allowed is None or any(kind in update for kind in allowed)

        def pending() -> list[dict[str, Any]]:
            self.updates = [u for u in self.updates if wanted(u)]
            return [u for u in self.updates if u["update_id"] >= offset][:limit]

        if offset:
            # Telegram forgets every update below the offset once it is asked for it.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        async with self._new_update:
            if not pending() and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._new_update.wait_for(lambda: bool(pending()))
        return pending()

    async def api_setwebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    async def api_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        return True

    async def api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }

    async def api_setmycommands(self, params: dict[str, Any]) -> bool:
        key = _commands_key(params)
        commands = list(params.get("commands") or [])
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)  # an empty list is no list: the next scope applies
        return True

    async def api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(_commands_key(params), [])

    async def api_deletemycommands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(_commands_key(params), None)
        return True

    def private_chat_commands(self, chat_id: int, language_code: str) -> list[dict[str, Any]]:
        """The menu a person sees in their chat with the bot: the first list set, in
        Telegram's order (this chat, all private chats, default; each with the person's
        language before without)."""
        for scope in (("chat", chat_id), ("all_private_chats",), ("default",)):
            for language in (language_code, ""):
                if (scope, language) in self.commands:
                    return self.commands[(scope, language)]
        return []

    async def api_setchatmenubutton(self, params: dict[str, Any]) -> bool:
        return True

    async def api_close(self, params: dict[str, Any]) -> bool:
        return True

    async def api_logout(self, params: dict[str, Any]) -> bool:
        return True

    # --- Bot API methods: messages ---------------------------------------------------------------

    def _chat_id(self, params: dict[str, Any]) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None  # an @username no chat here has

    def _bot_message(self, chat_id: int, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._message_id(chat_id),
            "date": int(time.time()),
            "chat": self.state.chat_object(chat_id),
            "from": self.bot_user(),
            **content,
        }
        self._apply_markup(chat_id, message, params.get("reply_markup"))
        return message

    def _apply_markup(self, chat_id: int, message: dict[str, Any], markup: Any) -> None:
        """Inline keyboards belong to the message; reply keyboards to the chat's input field."""
        if not isinstance(markup, dict):
            message.pop("reply_markup", None)
            return
        if "inline_keyboard" in markup:
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        elif "keyboard" in markup:
            self.state.chat(chat_id).reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            self.state.chat(chat_id).reply_keyboard = None

    def _text(
        self, params: dict[str, Any], key: str, limit: int
    ) -> tuple[str, list[dict[str, Any]]]:
        users = {user.id: user.telegram() for user in self.state.users.values()}
        try:
            text, entities = render_text(
                str(params.get(key) or ""), params.get("parse_mode"), users
            )
        except EntityParseError as exc:
            raise bad_request(str(exc)) from None
        explicit = params.get("entities" if key == "text" else "caption_entities")
        if isinstance(explicit, list):
            entities = explicit
        if len(text) > limit:
            raise bad_request(
                "message is too long" if key == "text" else "message caption is too long"
            )
        return text, entities

    async def api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text, entities = self._text(params, "text", MAX_TEXT)
        if not text.strip():
            raise bad_request("message text is empty")
        message = self._bot_message(chat_id, params, text=text)
        if entities:
            message["entities"] = entities
        await self.state.add_message(chat_id, message)
        return message

    def _find_editable(self, params: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        chat_id = self._chat_id(params)
        found = self.state.chat(chat_id).find(int(params.get("message_id") or 0))
        if found is not None and found.get("from", {}).get("id") != self.bot_id:
            # Only the bot's own messages are edited in the log; anything else (a test that
            # feeds hand-built updates) is answered without touching what the client shows.
            found = None
        return chat_id, found

    async def api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat_id, found = self._find_editable(params)
        text, entities = self._text(params, "text", MAX_TEXT)
        if not text.strip():
            raise bad_request("message text is empty")
        if found is None:
            # A message this sandbox never saw (a test fed the update directly): answer as
            # Telegram would for a message that exists.
            found = {
                "message_id": int(params.get("message_id") or 0),
                "date": int(time.time()),
                "chat": self.state.chat_object(chat_id),
                "from": self.bot_user(),
            }
        elif found.get("text") == text and found.get("reply_markup") == params.get("reply_markup"):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        found.update(text=text, edit_date=int(time.time()))
        found.pop("entities", None)
        if entities:
            found["entities"] = entities
        self._apply_markup(chat_id, found, params.get("reply_markup"))
        await self.state.touch(chat_id)
        return found

    async def api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat_id, found = self._find_editable(params)
        if found is None:
            found = {
                "message_id": int(params.get("message_id") or 0),
                "date": int(time.time()),
                "chat": self.state.chat_object(chat_id),
                "from": self.bot_user(),
                "text": "",
            }
        found["edit_date"] = int(time.time())
        self._apply_markup(chat_id, found, params.get("reply_markup"))
        await self.state.touch(chat_id)
        return found

    async def api_deletemessage(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params)
        log = self.state.chat(chat_id)
        found = log.find(int(params.get("message_id") or 0))
        if found is not None:
            log.messages.remove(found)
            await self.state.touch(chat_id)
        return True

    async def api_sendchataction(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params)
        log = self.state.chat(chat_id)
        log.action = (str(params.get("action") or "typing"), time.time(), log.last_message_id())
        await self.state.touch(chat_id)
        return True

    async def api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id in self._answered_callbacks:
            raise bad_request(_QUERY_INVALID)  # Telegram takes one answer per query
        chat_id = self._callback_chats.pop(query_id, None)
        if chat_id is None:
            return True  # a query a test built by hand: nobody is waiting for a toast
        self._answered_callbacks.add(query_id)
        if params.get("text"):
            alert = (
                str(params.get("show_alert", "")).lower() == "true"
                or params.get("show_alert") is True
            )
            await self.state.add_notice(chat_id, "alert" if alert else "toast", str(params["text"]))
        return True

    async def api_answerinlinequery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        waiting = self._inline_queries.get(query_id)
        if waiting is None or waiting.done():
            raise bad_request(_QUERY_INVALID)  # unknown, answered or too old
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > 50:
            raise bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            _check_inline_result(result, seen)
        answer: dict[str, Any] = {"results": results}
        button = params.get("button")
        if button is not None:
            if not isinstance(button, dict) or not 1 <= len(str(button.get("text") or "")) <= 64:
                raise bad_request("BUTTON_TEXT_INVALID")
            if ("web_app" in button) == ("start_parameter" in button):
                raise bad_request("BUTTON_TYPE_INVALID")
            answer["button"] = button
        # Form-encoded calls send every field as text: kept here as Telegram reads them.
        answer["cache_time"] = int(params.get("cache_time") or 300)
        answer["is_personal"] = str(params.get("is_personal", "")).lower() == "true"
        answer["next_offset"] = str(params.get("next_offset") or "")
        waiting.set_result(answer)
        return True

    async def api_savepreparedinlinemessage(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = int(params.get("user_id") or 0)
        if user_id not in self.state.users:
            raise bad_request("USER_ID_INVALID")
        result = params.get("result")
        _check_inline_result(result, set())
        assert isinstance(result, dict)  # what _check_inline_result lets through
        allowed = (
            "allow_user_chats",
            "allow_bot_chats",
            "allow_group_chats",
            "allow_channel_chats",
        )
        if not any(str(params.get(key, "")).lower() == "true" for key in allowed):
            raise bad_request("PEER_TYPES_INVALID")
        prepared_id = secrets.token_urlsafe(12)
        # Telegram keeps a prepared message for a day.
        expires = time.time() + 86_400
        self._prepared[prepared_id] = (user_id, result, expires)
        return {"id": prepared_id, "expiration_date": int(expires)}

    # --- Bot API methods: files ---------------------------------------------------------------

    def _input_file(self, kind: str, params: dict[str, Any]) -> StoredFile:
        value = params.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, web.FileField):
            data = value.file.read()
            return self.state.store_file(
                kind, data, mime_type=value.content_type, file_name=value.filename
            )
        if isinstance(value, str) and value in self.state.files:
            return self.state.files[value]  # file_id reuse: the same file, the same id
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or None
            return self.state.store_file(kind, None, mime_type=None, file_name=name, url=value)
        raise bad_request("wrong file identifier/HTTP URL specified")

    @staticmethod
    def _describe(stored: StoredFile, kind: str, params: dict[str, Any]) -> Any:
        base: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.data is not None:
            base["file_size"] = stored.size
        if kind == "photo":
            width, height = image_size(stored.data or b"")
            return [{**base, "width": width, "height": height}]
        if stored.mime_type:
            base["mime_type"] = stored.mime_type
        if stored.file_name and kind != "voice":
            base["file_name"] = stored.file_name
        duration = int(params.get("duration") or 0)
        if kind in ("audio", "voice"):
            base["duration"] = duration
            for key in ("performer", "title"):
                if params.get(key):
                    base[key] = str(params[key])
        if kind in ("video", "animation"):
            width, height = int(params.get("width") or 0), int(params.get("height") or 0)
            base.update(width=width, height=height, duration=duration)
        return base

    async def _send_media(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        stored = self._input_file(kind, params)
        caption, entities = self._text(params, "caption", MAX_CAPTION)
        message = self._bot_message(chat_id, params, **{kind: self._describe(stored, kind, params)})
        if caption:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        await self.state.add_message(chat_id, message)
        return message

    async def api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("photo", params)

    async def api_sendaudio(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("audio", params)

    async def api_sendvideo(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("video", params)

    async def api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("document", params)

    async def api_sendvoice(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("voice", params)

    async def api_sendanimation(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("animation", params)

    async def api_getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.state.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        result: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
        }
        if stored.data is not None:
            result.update(file_size=stored.size, file_path=stored.file_path)
        return result

    # --- Bot API methods: Stars payments ------------------------------------------------------

    def _invoice_fields(self, params: dict[str, Any]) -> dict[str, Any]:
        payload = str(params.get("payload") or "")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        title, description = str(params.get("title") or ""), str(params.get("description") or "")
        if not 1 <= len(title) <= 32 or not 1 <= len(description) <= 255:
            raise bad_request(
                "INVOICE_TITLE_INVALID" if not title else "INVOICE_DESCRIPTION_INVALID"
            )
        currency = str(params.get("currency") or "")
        prices = params.get("prices")
        if not isinstance(prices, list) or not prices:
            raise bad_request('field "prices" must be a non-empty array')
        try:
            total = sum(int(price["amount"]) for price in prices)
        except (KeyError, TypeError, ValueError):
            raise bad_request("can't parse prices JSON object") from None
        if currency == "XTR" and (len(prices) != 1 or params.get("provider_token")):
            # Stars invoices carry exactly one price and no payment provider.
            raise bad_request("STARS_INVOICE_INVALID")
        if total <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        return {
            "title": title,
            "description": description,
            "payload": payload,
            "currency": currency,
            "total_amount": total,
        }

    async def api_sendinvoice(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        fields = self._invoice_fields(params)
        invoice = self.state.new_invoice(chat_id=chat_id, **fields)
        message = self._bot_message(
            chat_id,
            params,
            invoice={
                "title": invoice.title,
                "description": invoice.description,
                "start_parameter": str(params.get("start_parameter") or ""),
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
            },
        )
        invoice.message_id = message["message_id"]
        # The client needs to know which invoice a tap pays; Telegram keeps this server-side.
        message["sandbox_invoice_slug"] = invoice.slug
        await self.state.add_message(chat_id, message)
        return {k: v for k, v in message.items() if k != "sandbox_invoice_slug"}

    async def api_createinvoicelink(self, params: dict[str, Any]) -> str:
        invoice = self.state.new_invoice(**self._invoice_fields(params))
        return f"https://t.me/${invoice.slug}"

    async def api_answerprecheckoutquery(self, params: dict[str, Any]) -> bool:
        waiting = self._pre_checkouts.get(str(params.get("pre_checkout_query_id") or ""))
        if waiting is None or waiting.done():
            raise bad_request(_QUERY_INVALID)
        ok = str(params.get("ok", "")).lower() == "true" or params.get("ok") is True
        error_message = params.get("error_message")
        if not ok and not error_message:
            raise bad_request("ERROR_MESSAGE_EMPTY")
        waiting.set_result((ok, str(error_message) if error_message else None))
        return True

    async def api_refundstarpayment(self, params: dict[str, Any]) -> bool:
        payment = self.state.payments.get(str(params.get("telegram_payment_charge_id") or ""))
        if payment is None or str(payment.user_id) != str(params.get("user_id")):
            raise bad_request("CHARGE_NOT_FOUND")
        if payment.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        await self.refund_payment(payment)
        return True

    async def refund_payment(self, payment: Payment, *, deliver: bool = True) -> None:
        """The Stars go back to the buyer (the bot asked, or Telegram decided on its own), and
        the bot gets a refunded_payment update unless `deliver=False` (the update was lost)."""
        payment.refunded = True
        payment.refund_date = int(time.time())
        payment.refund_seq = self.state.next_star_seq()
        user = self.state.users[payment.user_id].telegram()
        message = self._user_message(
            user,
            refunded_payment={
                "currency": payment.currency,
                "total_amount": payment.total_amount,
                "invoice_payload": payment.invoice_payload,
                "telegram_payment_charge_id": payment.telegram_payment_charge_id,
            },
        )
        await self.state.add_message(payment.user_id, message)
        if deliver:
            await self.push_update({"message": message})

    async def api_getstartransactions(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every payment and refund, oldest first, as Telegram lists them: a payment's source and
        a refund's receiver is the user (`invoice_payment`), and a refund has its payment's id."""
        offset = max(0, int(params.get("offset") or 0))
        limit = max(1, min(int(params.get("limit") or 100), 100))
        listed: list[tuple[int, dict[str, Any]]] = []
        for p in self.state.payments.values():
            partner = {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": self.state.users[p.user_id].telegram(),
                "invoice_payload": p.invoice_payload,
            }
            base = {"id": p.telegram_payment_charge_id, "amount": p.total_amount}
            listed.append((p.seq, base | {"date": p.date, "source": partner}))
            if p.refund_seq is not None:
                listed.append((p.refund_seq, base | {"date": p.refund_date, "receiver": partner}))
        listed.sort(key=lambda item: item[0])
        return {"transactions": [t for _, t in listed[offset : offset + limit]]}


__all__ = ["ApiCall", "BotApiServer", "PaymentOutcome", "TelegramError"]
