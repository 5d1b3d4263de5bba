"""Request id, error envelope, CORS and Mini App authentication: once, for every route."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from db.availability import database_unavailable
from db.models import User
from services.errors import DomainError, RateLimited
from services.users.access import is_banned
from services.users.errors import UserBanned
from services.users.schemas import Origin
from webapp_api.context import USER, context_of, http_config
from webapp_api.envelope import REQUEST_ID_KEY, fail
from webapp_api.errors import DatabaseUnavailable
from webapp_api.initdata import init_data_from_header
from webapp_api.registry import RouteSpec

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SPECS = web.AppKey("route_specs", dict[tuple[str, str], RouteSpec])
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    426: "upgrade_required",
    429: "rate_limited",
}


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    sent = request.headers.get("X-Request-ID", "")
    # 32 random hex digits, as uuid4().hex gave, without building a UUID (a tenth of the cost).
    request[REQUEST_ID_KEY] = sent if sent and _REQUEST_ID.match(sent) else secrets.token_hex(16)
    try:
        # Refuse an oversized body up front, whether or not the handler would read it.
        limit = http_config(request).max_body_bytes
        if (request.content_length or 0) > limit:
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit, actual_size=request.content_length or 0
            )
        response = await handler(request)
    except DomainError as exc:
        headers = (
            {"Retry-After": str(exc.details["retry_after"])}
            if isinstance(exc, RateLimited)
            else None
        )
        response = fail(request, exc.status, exc.code, exc.message, exc.details, headers=headers)
    except web.RequestPayloadError:
        # The body could not be decoded (e.g. `Content-Encoding: gzip` over plain bytes).
        response = fail(request, 400, "bad_request", "request body could not be read")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = fail(
            request,
            exc.status,
            _HTTP_CODES.get(exc.status, "http_error"),
            exc.reason,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except ConnectionResetError:
        # The client went away mid-request: nobody is left to answer, and it is not our fault.
        log.info("client closed the connection during %s %s", request.method, request.path)
        raise
    except Exception as exc:
        if not database_unavailable(exc):
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = fail(request, 500, "internal_error", "Internal server error")
        else:
            log.warning("database unavailable on %s %s: %r", request.method, request.path, exc)
            response = fail(
                request,
                DatabaseUnavailable.status,
                DatabaseUnavailable.code,
                "The service is temporarily unavailable, try again shortly",
                headers={"Retry-After": "1"},
            )
    response.headers["X-Request-ID"] = request[REQUEST_ID_KEY]
    return response


@web.middleware
async def unmatched_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The root's only middleware: a path outside every door gets the envelope. Anything under
    a door's prefix, matched or not, is that sub-app's (its own middlewares answer)."""
    match = request.match_info
    if match.http_exception is None or len(match.apps) > 1:
        return await handler(request)
    return await envelope_middleware(request, handler)


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    allow_any = "*" in origins

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and (allow_any or origin in origins)
        if (
            request.method == "OPTIONS"
            and allowed
            and "Access-Control-Request-Method" in request.headers
        ):
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = (
                "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            )
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
            )
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed and origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
            response.headers["Vary"] = "Origin"
        return response

    return middleware


@web.middleware
async def ip_rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A generous per-address ceiling in front of everything, signature checks included."""
    limiter = context_of(request).limits.api_ip
    if limiter is not None:
        await limiter.hit(request.remote or "unknown")
    return await handler(request)


def route_spec(request: web.Request) -> RouteSpec | None:
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    return request.app[SPECS].get((route.method, resource.canonical))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    spec = route_spec(request)
    if spec is None or not spec.auth:
        return await handler(request)
    raw = init_data_from_header(request.headers.get("Authorization"))
    request[USER] = await sign_in(request, raw)
    return await handler(request)


async def sign_in(request: web.Request, raw: str) -> User:
    """The Mini App user behind a raw initData string, however it came (the `tma` header, a
    WebSocket's first message). Raises Unauthorized, RateLimited, UserBanned."""
    ctx = context_of(request)
    config = http_config(request)
    verified = config.init_data_cache.verify(
        raw, config.init_data_check, max_age=config.init_data_max_age
    )
    profile = verified.profile
    if ctx.limits.api_user is not None:
        await ctx.limits.api_user.hit(str(profile.telegram_id))
    registration = await ctx.identity.resolve(
        ctx.db,
        profile,
        admin_ids=ctx.admin_ids,
        origin=Origin.miniapp(verified.data.start_param),
        on_created=ctx.on_user_created,
    )
    if is_banned(registration.user):
        raise UserBanned("your access is suspended")
    return registration.user
