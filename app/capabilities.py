"""What the product can do, one line each: a capability's bot router, its API routes and its
provider callbacks. The doors take their parts from this list; nothing else registers them.

A new capability is its package in `services/`, its router in `bot/handlers/`, its route
module in `webapp_api/routes/` and one line here (plus its field in `Services` when it has a
dependency to build).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiogram import Router

from app.services import Services
from bot.handlers import announce, send, token_admin, wallet
from bot.handlers import generation as generation_handlers
from bot.handlers import gifts as gift_handlers
from bot.handlers import limits as limit_handlers
from bot.handlers import market as market_handlers
from bot.handlers import promo as promo_handlers
from bot.handlers import purchases as purchase_handlers
from bot.handlers import referrals as referral_handlers
from webapp_api.registry import Routes
from webapp_api.routes import generation, ledger, limits, market, realtime, transfers
from webapp_api.routes import gifts as gift_routes
from webapp_api.routes import promo as promo_routes
from webapp_api.routes import purchases as purchase_routes
from webapp_api.routes import referrals as referral_routes
from webapp_api.webhooks import ProviderWebhook


@dataclass(frozen=True)
class Capability:
    name: str
    # The bot's router (commands, buttons, `deep_link(...)` payloads), built per Dispatcher.
    router: Callable[[], Router] | None = None
    # Its commands in the bot's menu, described by `commands.<name>` texts.
    commands: tuple[str, ...] = ()
    # Its `/api/v1` routes.
    routes: Routes | None = None
    # Its `/webhooks/<provider>` endpoints, given the services they act through.
    webhooks: Callable[[Services], Sequence[ProviderWebhook]] | None = None


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "wallet", router=wallet.build_router, commands=("balance", "history"), routes=ledger.routes
    ),
    Capability("transfers", router=send.build_router, commands=("send",), routes=transfers.routes),
    Capability("token_admin", router=token_admin.build_router),
    Capability(
        "spending_limits",
        router=limit_handlers.build_router,
        commands=("limits",),
        routes=limits.routes,
    ),
    Capability("realtime", routes=realtime.routes),
    Capability(
        "purchases",
        router=purchase_handlers.build_router,
        commands=("buy",),
        routes=purchase_routes.routes,
    ),
    Capability(
        "referrals",
        router=referral_handlers.build_router,
        commands=("invite",),
        routes=referral_routes.routes,
    ),
    Capability(
        "promo",
        router=promo_handlers.build_router,
        commands=("redeem",),
        routes=promo_routes.routes,
    ),
    Capability("gifts", router=gift_handlers.build_router, routes=gift_routes.routes),
    Capability(
        "market",
        router=market_handlers.build_router,
        commands=("market", "offer", "offers", "fill"),
        routes=market.routes,
    ),
    Capability(
        "generation",
        router=generation_handlers.build_router,
        commands=tuple(generation_handlers.COMMANDS),
        routes=generation.routes,
        webhooks=generation.provider_webhooks,
    ),
    Capability("announcements", router=announce.build_router),
)


def bot_routers(capabilities: Sequence[Capability]) -> list[Router]:
    return [c.router() for c in capabilities if c.router is not None]


def bot_commands(capabilities: Sequence[Capability]) -> tuple[str, ...]:
    return tuple(command for c in capabilities for command in c.commands)


def http_routes(capabilities: Sequence[Capability]) -> list[Routes]:
    return [c.routes for c in capabilities if c.routes is not None]


def provider_webhooks(
    capabilities: Sequence[Capability], services: Services
) -> list[ProviderWebhook]:
    return [hook for c in capabilities if c.webhooks is not None for hook in c.webhooks(services)]
