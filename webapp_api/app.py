"""The HTTP doors as aiohttp sub-apps of one root, each with only the middlewares it needs.

- `/api/v1`: the Mini App API (request id and error envelope, body limit, CORS, per-address
  limit, `tma` initData auth with the per-user limit), its routes declared in `routes/`;
- `/telegram/webhook`: the bot's updates, checked by the secret-token header alone: Telegram
  posts from a few addresses, so a per-address limit would throttle every user at once;
- `/webhooks/<provider>`: callbacks from AI providers and chains, the raw body kept for their
  signature checks, no `tma` auth;
- `/app/`: the reference Mini App's static files.

The root itself only answers what no door matched (404/405, in the envelope).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from app.services import Services
from webapp_api.context import HTTP_CONFIG, SERVICES, HttpConfig
from webapp_api.envelope import ok
from webapp_api.middlewares import (
    SPECS,
    auth_middleware,
    cors_middleware,
    envelope_middleware,
    ip_rate_limit_middleware,
    unmatched_middleware,
)
from webapp_api.miniapp import miniapp_app
from webapp_api.openapi import build_openapi
from webapp_api.registry import Routes, RouteSpec
from webapp_api.routes import health, me, texts
from webapp_api.webhooks import ProviderWebhook, provider_webhooks_app

API_PREFIX = "/api/v1"
# The door's own routes; capabilities bring theirs from the composition root.
DOOR_ROUTES: tuple[Routes, ...] = (health.routes, me.routes, texts.routes)


def _specs(routes: Sequence[Routes]) -> list[RouteSpec]:
    return [spec for module in (*DOOR_ROUTES, *routes) for spec in module.specs]


def api_specs(routes: Sequence[Routes]) -> list[RouteSpec]:
    """Every `/api/v1` route as clients see it, the prefix in its path."""
    return [
        RouteSpec(**{**spec.__dict__, "path": API_PREFIX + spec.path}) for spec in _specs(routes)
    ]


def openapi_document(version: str, routes: Sequence[Routes]) -> dict[str, Any]:
    """The document `GET /api/v1/openapi.json` serves, without an app (tests, tooling)."""
    return build_openapi(api_specs(routes), title="Good Vibe Live Mini App API", version=version)


def create_api_app(
    services: Services, config: HttpConfig, routes: Sequence[Routes]
) -> web.Application:
    """The `/api/v1` sub-app: the door's routes and each capability's."""
    api = web.Application(
        middlewares=[
            envelope_middleware,
            cors_middleware(config.cors_origins),
            ip_rate_limit_middleware,
            auth_middleware,
        ],
    )
    table: dict[tuple[str, str], RouteSpec] = {}
    for spec in _specs(routes):
        api.router.add_route(spec.method, spec.path, spec.mounted_handler)
        # Keyed as aiohttp will see it once mounted: the prefix is part of the canonical path.
        table[(spec.method, API_PREFIX + spec.path)] = spec
    document = openapi_document(services.version, routes)

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    api.router.add_get("/openapi.json", openapi)
    api[SPECS] = table
    return api


def create_root_app(
    services: Services,
    config: HttpConfig,
    *,
    routes: Sequence[Routes] = (),
    api: bool = True,
    providers: Sequence[ProviderWebhook] = (),
) -> web.Application:
    """`api=False` is a webhook-only process: the root, the Telegram webhook (mounted by the
    bot's component with `SimpleRequestHandler.register`) and the provider callbacks."""
    root = web.Application(
        client_max_size=config.max_body_bytes, middlewares=[unmatched_middleware]
    )
    root[SERVICES] = services
    root[HTTP_CONFIG] = config
    if api:
        root.add_subapp(API_PREFIX, create_api_app(services, config, routes))
        root.on_shutdown.append(_close_sockets)
        miniapp = miniapp_app(telegram_js_url=config.telegram_js_url)
        root.router.add_get("/app", _to_miniapp)
        root.add_subapp("/app", miniapp)
    if providers:
        root.add_subapp("/webhooks/", provider_webhooks_app(providers))
    return root


async def _close_sockets(root: web.Application) -> None:
    # Before the server waits for the requests in flight: an open WebSocket is one, and would
    # hold the shutdown for the whole grace period.
    root[SERVICES].realtime.hub.close_all()


async def _to_miniapp(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/app/")


__all__ = ["API_PREFIX", "create_api_app", "create_root_app", "ok", "openapi_document"]
