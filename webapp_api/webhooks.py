"""`/webhooks/<provider>`: callbacks from AI providers and chains.

Each provider verifies its own signature over the exact bytes it sent, so the handler gets
the raw body (read once, within the body limit) before anything parses it; there is no `tma`
auth and no per-address limit here, as there is none on Telegram's webhook.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from webapp_api.middlewares import envelope_middleware

# One segment, or a family and a member (`ai/replicate`).
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}(/[a-z0-9][a-z0-9_-]{0,31})?$")

ProviderHandler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ProviderWebhook:
    """`POST /webhooks/<name>`, answered by `handle(request, raw_body)`."""

    name: str
    handle: ProviderHandler

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"provider webhook name {self.name!r} is not a URL segment")


def provider_webhooks_app(providers: Sequence[ProviderWebhook]) -> web.Application:
    app = web.Application(middlewares=[envelope_middleware])
    names = [provider.name for provider in providers]
    if len(set(names)) != len(names):
        raise ValueError(f"provider webhooks registered twice: {sorted(names)}")
    for provider in providers:
        app.router.add_post("/" + provider.name, _with_raw_body(provider.handle))
    return app


def _with_raw_body(
    handle: ProviderHandler,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle(request, await request.read())

    return handler
