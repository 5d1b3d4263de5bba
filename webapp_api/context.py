"""What the API's handlers and middlewares need, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from db.database import Database
from db.models import User
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter
from services.transfers.config import LedgerConfig
from services.transfers.usecase import Transfers
from services.users.service import OnCreated
from webapp_api.initdata import InitDataCheck


@dataclass(frozen=True)
class ApiContext:
    db: Database
    catalog: Catalog
    bot_token: str
    init_data_max_age: int
    admin_ids: frozenset[int]
    version: str
    ledger: LedgerConfig
    # P2P sends, with the executor the composition root chose (the SendBatcher in production).
    transfers: Transfers
    # What every capability does in the transaction that creates a user (the welcome bonus).
    on_created: tuple[OnCreated, ...]
    user_limiter: RateLimiter | None = None
    ip_limiter: RateLimiter | None = None
    # Which initData signatures must hold (INIT_DATA_VALIDATION); None: the HMAC with bot_token.
    init_data_check: InitDataCheck | None = None


CONTEXT = web.AppKey("context", ApiContext)
USER = web.RequestKey("user", User)


def context_of(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def current_user(request: web.Request) -> User:
    return request[USER]
