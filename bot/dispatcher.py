"""The aiogram Dispatcher: routers per feature, cross-cutting concerns as middlewares."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.memory import MemoryStorage
from limits import parse

from bot.deeplinks import DeepLinks
from bot.handlers import errors, help, language, start
from bot.middlewares.ban import BanMiddleware
from bot.middlewares.identity import IdentityMiddleware
from bot.middlewares.throttle import ThrottleMiddleware
from db.database import Database
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter


def build_dispatcher(
    *,
    db: Database,
    catalog: Catalog,
    admin_ids: frozenset[int],
    webapp_url: str,
    deep_links: DeepLinks | None = None,
    throttle: RateLimiter | None = None,
) -> Dispatcher:
    dispatcher = Dispatcher(
        storage=MemoryStorage(),
        db=db,
        catalog=catalog,
        admin_ids=admin_ids,
        webapp_url=webapp_url,
        deep_links=deep_links or DeepLinks(),
    )
    if throttle is not None:
        # One warning per window, so a flood is answered once and then ignored.
        warnings = RateLimiter(throttle.namespace + ":warned", parse("1/minute"), throttle.strategy)
        dispatcher.update.outer_middleware(ThrottleMiddleware(throttle, warnings, catalog))
    dispatcher.update.outer_middleware(IdentityMiddleware(db, catalog, admin_ids))
    dispatcher.update.outer_middleware(BanMiddleware())
    dispatcher.include_routers(
        *(module.build_router() for module in (start, help, language, errors))
    )
    return dispatcher
