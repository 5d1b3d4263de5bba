"""The aiogram Dispatcher: routers per feature, cross-cutting concerns as middlewares."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage
from limits import parse

from bot.handlers import errors, fallback, help, language, send, start, token_admin, wallet
from bot.middlewares.ban import BanMiddleware
from bot.middlewares.identity import IdentityMiddleware
from bot.middlewares.throttle import ThrottleMiddleware
from db.database import Database
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter
from services.transfers.config import LedgerConfig
from services.transfers.usecase import Transfers
from services.users.service import OnCreated


def build_dispatcher(
    *,
    db: Database,
    catalog: Catalog,
    admin_ids: frozenset[int],
    webapp_url: str,
    ledger: LedgerConfig,
    transfers: Transfers,
    on_created: tuple[OnCreated, ...],
    throttle: RateLimiter | None = None,
    capability_routers: Sequence[Router] = (),
) -> Dispatcher:
    dispatcher = Dispatcher(
        storage=MemoryStorage(),
        db=db,
        catalog=catalog,
        webapp_url=webapp_url,
        ledger=ledger,
        transfers=transfers,
    )
    if throttle is not None:
        # One warning per window, so a flood is answered once and then ignored.
        warnings = RateLimiter(throttle.namespace + ":warned", parse("1/minute"), throttle.strategy)
        dispatcher.update.outer_middleware(ThrottleMiddleware(throttle, warnings, catalog))
    dispatcher.update.outer_middleware(IdentityMiddleware(db, catalog, admin_ids, on_created))
    dispatcher.update.outer_middleware(BanMiddleware())
    # Capabilities first: a router with a deep link (`bot.deeplinks`) must come before start,
    # which takes every /start left; fallback last: it takes any button the others did not.
    features = (start, help, language, wallet, send, token_admin, fallback, errors)
    dispatcher.include_routers(*capability_routers, *(module.build_router() for module in features))
    return dispatcher
