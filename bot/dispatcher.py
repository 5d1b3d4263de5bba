"""The aiogram Dispatcher: routers per feature, cross-cutting concerns as middlewares."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage
from limits import parse

from app.services import Services
from bot.handlers import errors, fallback, help, language, send, start, token_admin, wallet
from bot.middlewares.ban import BanMiddleware
from bot.middlewares.identity import IdentityMiddleware
from bot.middlewares.throttle import ThrottleMiddleware
from services.ratelimit.limiter import RateLimiter


def build_dispatcher(
    services: Services, *, capability_routers: Sequence[Router] = ()
) -> Dispatcher:
    # Handlers ask for a service by its field name (`db`, `catalog`, `ledger`, ...).
    dispatcher = Dispatcher(storage=MemoryStorage(), **services.for_handlers())
    throttle = services.limits.bot
    if throttle is not None:
        # One warning per window, so a flood is answered once and then ignored.
        warnings = RateLimiter(throttle.namespace + ":warned", parse("1/minute"), throttle.strategy)
        dispatcher.update.outer_middleware(ThrottleMiddleware(throttle, warnings, services.catalog))
    dispatcher.update.outer_middleware(
        IdentityMiddleware(
            services.db, services.catalog, services.admin_ids, services.on_user_created
        )
    )
    dispatcher.update.outer_middleware(BanMiddleware())
    # Capabilities first: a router with a deep link (`bot.deeplinks`) must come before start,
    # which takes every /start left; fallback last: it takes any button the others did not.
    features = (start, help, language, wallet, send, token_admin, fallback, errors)
    dispatcher.include_routers(*capability_routers, *(module.build_router() for module in features))
    return dispatcher
