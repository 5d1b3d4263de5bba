"""What the API's handlers and middlewares need, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from db.database import Database
from db.models import User
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig
from services.users.cache import IdentityCache
from webapp_api.initdata import InitDataCache, InitDataCheck


@dataclass(frozen=True)
class ApiContext:
    db: Database
    catalog: Catalog
    bot_token: str
    init_data_max_age: int
    admin_ids: frozenset[int]
    version: str
    user_limiter: RateLimiter | None = None
    ip_limiter: RateLimiter | None = None
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    # P2P sends coalesced into shared ledger statements; None sends each in its own session.
    sender: SendBatcher | None = None
    # Which initData signatures must hold (INIT_DATA_VALIDATION); None: the HMAC with bot_token.
    init_data_check: InitDataCheck | None = None
    # initData already verified, and users already resolved (by default never trusted: it
    # reads the database every time until the composition root gives it a listener).
    init_data_cache: InitDataCache = field(default_factory=InitDataCache)
    identity: IdentityCache = field(default_factory=IdentityCache)

    def __post_init__(self) -> None:
        if self.init_data_check is None:
            # Made once here, not per request: it derives the HMAC key from the token.
            object.__setattr__(self, "init_data_check", InitDataCheck(bot_token=self.bot_token))


CONTEXT = web.AppKey("context", ApiContext)
USER = web.RequestKey("user", User)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def current_user(request: web.Request) -> User:
    return request[USER]
