"""`GET /api/v1/ws`: the Mini App's live events over a WebSocket.

The route is declared without `tma` auth (a browser cannot set headers on a WebSocket, and
initData must not travel in the URL): the first message authenticates, checked exactly as the
`Authorization: tma` header is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from enum import IntEnum
from typing import Any

import pydantic
from aiohttp import WSMsgType, web

from db.models import User
from services.errors import RateLimited, Unauthorized
from services.realtime.errors import TooManyConnections
from services.realtime.hub import GOING_AWAY, SLOW_CONSUMER, Subscriber
from services.realtime.schemas import PROTOCOL_MESSAGES, AuthMessage, ResumeMessage
from services.realtime.service import events_after
from services.users.errors import UserBanned
from services.users.service import effective_language
from webapp_api.context import context_of
from webapp_api.middlewares import sign_in
from webapp_api.registry import Routes

log = logging.getLogger(__name__)

routes = Routes(tag="realtime")

AUTH_SECONDS = 5.0
# Live events wait this long after `ready` for the client's `resume`, so that a replay goes
# out before them and the stream stays in id order.
RESUME_WINDOW_SECONDS = 1.0
HEARTBEAT_SECONDS = 25.0
MAX_MESSAGE_BYTES = 16 * 1024


class Close(IntEnum):
    GOING_AWAY = GOING_AWAY
    NO_AUTH = 4001
    BAD_AUTH = 4003
    SLOW_CONSUMER = SLOW_CONSUMER
    TOO_MANY = 4029
    SERVER_ERROR = 1011


PROTOCOL = """\
A WebSocket. Authenticate with the first message, then receive events.

Client → server:
- `{"type": "auth", "initData": "<Telegram.WebApp.initData>"}`: first, within 5 s; checked as
  `Authorization: tma` is (signature, age, ban). Answered `{"type": "ready", "last_event_id": N}`.
- `{"type": "resume", "after": <id>}`: right after `ready`, with the last event id received
  before a disconnect: every event after it, in order, then live ones, each once, whichever
  instance the client reconnects to. If part of that stream is older than
  `REALTIME_RETENTION`, or `after` is not an integer in 0..2^63-1, `{"type": "resync"}`
  instead: reload the state over REST.
- `{"type": "ping"}`: answered `{"type": "pong"}` (WebSocket ping frames are answered too; the
  server pings every 25 s and drops a socket that does not answer).

Server → client, besides those: events, `{"id", "channel", "type", "data", "ts"}`. Channels:
`user` (private: `transfer` with `data` `{transfer_id, kind, direction: in|out, asset, amount,
code}`; `balance` with `data` `{asset, available, pending, posted}`, the wallet after
the change; amounts as integer strings) and `announcements` (everyone: `announcement` with
`data` `{announcement_id, html, button: {text, url} | null, language: null | "en" | "ru"}`).
Ids increase along a user's stream and events arrive in id order (one that commits late is
waited for); keep the last one for `resume`.

Presence (no id, not stored, not replayed): after `ready` and every 10 s,
`{"channel": "presence", "type": "presence", "data": {"online": N, "referrals_online": [user
ids]}}`: how many users are connected across every instance, and which of the signed-in
user's own direct referrals are.

Close codes: 4001 no `auth` within 5 s; 4003 bad, expired or banned initData, or a first
message that is not `auth`; 4029 over the per-user connection cap (`REALTIME_MAX_CONNECTIONS`
across every instance) or the per-user request limit; 4009 slow consumer (more than
`REALTIME_SEND_BUFFER` events waiting); 1001 server going away (reconnect and resume); 1011
a server error while signing in (reconnect later).
A plain HTTP request gets `426 upgrade_required`.
"""


class _Refused(Exception):
    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@routes.route(
    "GET",
    "/ws",
    summary="Live events over a WebSocket (auth as the first message, resume after a drop)",
    response=None,
    auth=False,
    status=101,
    description=PROTOCOL,
    schemas=PROTOCOL_MESSAGES,
)
async def websocket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_MESSAGE_BYTES)
    if not ws.can_prepare(request).ok:
        # Not a domain error: no person reads it, so it needs no text in every language.
        raise web.HTTPUpgradeRequired(reason="this endpoint speaks WebSocket only")
    await ws.prepare(request)
    realtime = context_of(request).realtime
    hub = realtime.hub
    try:
        user = await _authenticate(request, ws)
        subscriber = await _subscribe(request, user)
    except _Refused as refused:
        await ws.close(code=refused.code, message=refused.reason.encode())
        return ws
    except ConnectionResetError:
        return ws
    except Exception:
        # The upgrade is done, so the envelope can no longer answer: the socket says it.
        log.exception("WebSocket sign-in failed")
        await ws.close(code=Close.SERVER_ERROR, message=b"server error")
        return ws
    try:
        await ws.send_str(json.dumps({"type": "ready", "last_event_id": hub.last_event_id}))
        view = await realtime.presence.view(context_of(request).db, [user.id])
        subscriber.reply(view.message(user.id))
        await _serve(request, ws, user, subscriber)
    finally:
        hub.unsubscribe(subscriber)
        try:
            await realtime.presence.release(context_of(request).db, user.id)
        # The row then lives until this instance's next heartbeat rewrites its rows.
        except Exception:
            log.exception("could not release a realtime connection")
    return ws


async def _subscribe(request: web.Request, user: User) -> Subscriber:
    """This instance's cap, then the cap across every instance (the connection table)."""
    context = context_of(request)
    try:
        subscriber = context.realtime.hub.subscribe(user.id, effective_language(user))
    except TooManyConnections:
        raise _Refused(Close.TOO_MANY, "too many connections") from None
    try:
        admitted = await context.realtime.presence.claim(context.db, user.id)
    except BaseException:
        context.realtime.hub.unsubscribe(subscriber)
        raise
    if not admitted:
        context.realtime.hub.unsubscribe(subscriber)
        raise _Refused(Close.TOO_MANY, "too many connections")
    return subscriber


async def _authenticate(request: web.Request, ws: web.WebSocketResponse) -> User:
    try:
        async with asyncio.timeout(AUTH_SECONDS):
            message = await ws.receive()
    except TimeoutError:
        raise _Refused(Close.NO_AUTH, "no auth message") from None
    if message.type is not WSMsgType.TEXT:
        raise _Refused(Close.BAD_AUTH, "the first message must be auth")
    try:
        auth = AuthMessage.model_validate_json(message.data)
    except pydantic.ValidationError:
        raise _Refused(Close.BAD_AUTH, "the first message must be auth") from None
    # Checked exactly as a `tma` request is: the same function, the same caches and limits.
    try:
        return await sign_in(request, auth.initData)
    except UserBanned:
        raise _Refused(Close.BAD_AUTH, "user_banned") from None
    except Unauthorized as exc:
        raise _Refused(Close.BAD_AUTH, exc.code) from None
    except RateLimited:
        raise _Refused(Close.TOO_MANY, "rate limited") from None


async def _serve(
    request: web.Request, ws: web.WebSocketResponse, user: User, subscriber: Subscriber
) -> None:
    window = asyncio.get_running_loop().call_later(RESUME_WINDOW_SECONDS, subscriber.release)
    tasks = {
        asyncio.create_task(_write(ws, subscriber)),
        asyncio.create_task(_read(request, ws, user, subscriber)),
        asyncio.create_task(subscriber.closed.wait()),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        window.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if subscriber.close_code is not None and not ws.closed:
        reason = "going away" if subscriber.close_code == Close.GOING_AWAY else "slow consumer"
        with contextlib.suppress(ConnectionResetError):
            await ws.close(code=subscriber.close_code, message=reason.encode())


async def _write(ws: web.WebSocketResponse, subscriber: Subscriber) -> None:
    while True:
        item = await subscriber.queue.get()
        await ws.send_str(item if isinstance(item, str) else item.wire)


async def _read(
    request: web.Request, ws: web.WebSocketResponse, user: User, subscriber: Subscriber
) -> None:
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            continue
        try:
            data: Any = json.loads(message.data)
        except ValueError:
            continue
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "resume":
            await _resume(request, data, user, subscriber)
        elif kind == "ping":
            subscriber.release()
            subscriber.reply('{"type":"pong"}')
        # Anything else is ignored: a newer client's message this server does not know yet.


async def _resume(
    request: web.Request, data: dict[str, Any], user: User, subscriber: Subscriber
) -> None:
    try:
        after = ResumeMessage.model_validate(data).after
    except pydantic.ValidationError:
        subscriber.reply('{"type":"resync"}')
        subscriber.release()
        return
    realtime = context_of(request).realtime
    try:
        # A new process knows which ids are final once its listener's first reads are done.
        async with asyncio.timeout(AUTH_SECONDS):
            await realtime.listener.connected.wait()
    except TimeoutError:
        subscriber.reply('{"type":"resync"}')
        subscriber.release()
        return
    async with context_of(request).db.service() as session:
        missed = await events_after(session, user.id, after, realtime.hub.last_event_id)
    if missed is None:
        subscriber.reply('{"type":"resync"}')
        subscriber.release()
    else:
        # Live events up to `after` (this instance's listener may be behind the one that sent
        # them) are dropped: the client has them.
        subscriber.release(missed, after=after)
