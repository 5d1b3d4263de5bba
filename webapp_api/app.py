"""The Mini App API as an aiohttp application (the bot's webhook joins the same app)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from webapp_api.context import CONTEXT, ApiContext
from webapp_api.envelope import ok
from webapp_api.middlewares import (
    MAX_BODY,
    SPECS,
    auth_middleware,
    cors_middleware,
    envelope_middleware,
    ip_rate_limit_middleware,
)
from webapp_api.miniapp import TELEGRAM_WEB_APP_JS, add_miniapp
from webapp_api.openapi import build_openapi
from webapp_api.registry import Routes, RouteSpec
from webapp_api.routes import health, ledger, me, texts, transfers

API_PREFIX = "/api/v1"
ROUTE_MODULES: tuple[Routes, ...] = (
    health.routes,
    me.routes,
    texts.routes,
    ledger.routes,
    transfers.routes,
)


def _specs(extra_routes: tuple[Routes, ...] = ()) -> list[RouteSpec]:
    return [
        RouteSpec(**{**spec.__dict__, "path": API_PREFIX + spec.path})
        for module in (*ROUTE_MODULES, *extra_routes)
        for spec in module.specs
    ]


def openapi_document(version: str, extra_routes: tuple[Routes, ...] = ()) -> dict[str, Any]:
    """The document `GET /api/v1/openapi.json` serves, without an app (tests, tooling)."""
    return build_openapi(_specs(extra_routes), title="Good Vibe Live Mini App API", version=version)


def create_api_app(
    context: ApiContext,
    *,
    cors_origins: tuple[str, ...] = (),
    max_body_bytes: int = 1_048_576,
    extra_routes: tuple[Routes, ...] = (),
    api: bool = True,
    telegram_js_url: str = TELEGRAM_WEB_APP_JS,
) -> web.Application:
    """`api=False` gives the bare app (envelope on errors) for a webhook-only process."""
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[
            envelope_middleware,
            cors_middleware(cors_origins),
            ip_rate_limit_middleware,
            auth_middleware,
        ],
    )
    app[CONTEXT] = context
    app[SPECS] = {}
    app[MAX_BODY] = max_body_bytes
    if not api:
        return app
    specs = _specs(extra_routes)
    table: dict[tuple[str, str], RouteSpec] = {}
    for spec in specs:
        app.router.add_route(spec.method, spec.path, spec.mounted_handler)
        table[(spec.method, spec.path)] = spec
    document = openapi_document(context.version, extra_routes)

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    app.router.add_get(API_PREFIX + "/openapi.json", openapi)
    app[SPECS].update(table)
    add_miniapp(app, telegram_js_url=telegram_js_url)
    return app


__all__ = ["API_PREFIX", "create_api_app", "ok", "openapi_document"]
