"""`Services`: every dependency the front doors share, built once by `bootstrap` for any role.

The bot receives them by name (`Dispatcher(**services.for_handlers())`: a handler asks for
`db`, `catalog`, `ledger` … as parameters), the HTTP app holds the same object. A capability
adds its field here and one line to `bootstrap`; nothing has a default, so a dependency
forgotten at the composition root is a `TypeError` at start, never a second copy made in
passing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from app.settings import Settings
from db.database import Database, create_database
from db.roles import SERVICE_ROLE
from db.urls import app_url_from_owner, asyncpg_dsn
from services.i18n import Catalog, load_catalog
from services.ratelimit.limiter import RateLimiter, make_storage
from services.realtime.hub import EventHub
from services.realtime.listener import EventListener
from services.realtime.presence import Presence
from services.realtime.service import Realtime
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig, ledger_config
from services.transfers.usecase import SessionSends, Transfers
from services.users.cache import IdentityCache
from services.users.service import OnCreated


@dataclass(frozen=True)
class Limits:
    """Per-key rate limits; None is a door with no limit of that kind (tests, a bench)."""

    api_user: RateLimiter | None
    api_ip: RateLimiter | None
    bot: RateLimiter | None


@dataclass(frozen=True)
class Services:
    db: Database
    catalog: Catalog
    # P2P rules, the welcome bonus and the one asset registry (`ledger.assets`).
    ledger: LedgerConfig
    # The Mini App's P2P sends: concurrent ones share ledger statements (`batcher`).
    transfers: Transfers
    # The bot's confirmed sends, one transaction each: a send refused there leaves nothing in
    # the ledger (a shared statement commits its refusals), so the reopened request can be
    # confirmed again once the cause is gone.
    confirmed_transfers: Transfers
    # The executor behind `transfers`, closed by its component after the doors stop; None
    # when `transfers` sends one transaction each (tests compare the two).
    batcher: SendBatcher | None
    limits: Limits
    # Users already resolved, trusted only while its listener hears every change (its
    # component starts that where the API is served).
    identity: IdentityCache
    admin_ids: frozenset[int]
    # Run once in the transaction that creates a user, whichever door it came through.
    on_user_created: tuple[OnCreated, ...]
    # This process's WebSocket subscribers and the LISTEN connection that feeds them.
    realtime: Realtime
    webapp_url: str
    version: str

    def for_handlers(self) -> dict[str, Any]:
        """Workflow data for aiogram: each field under its own name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def platform_version() -> str:
    try:
        return version("goodvibe")
    except PackageNotFoundError:
        return "0.0.0+local"


def bootstrap(settings: Settings, owner_url: str) -> Services:
    """The services of one process; nothing here opens a connection or starts a task."""
    # Unset: the service connection's server and database, as the user login.
    app_url = settings.app_database_url or app_url_from_owner(owner_url)
    db = create_database(
        app_url,
        user_url=settings.app_user_database_url,
        pool_size=settings.db_pool_size,
    )
    storage = make_storage(settings.redis_url)
    ledger = ledger_config(
        welcome_bonus=settings.welcome_bonus,
        fee_bps=settings.p2p_fee_bps,
        min_amount=settings.p2p_min_amount,
        daily_limit=settings.p2p_daily_limit,
    )
    batcher = SendBatcher(db, ledger.p2p)
    return Services(
        db=db,
        catalog=load_catalog(),
        ledger=ledger,
        transfers=Transfers(db, ledger.p2p, ledger.assets, batcher),
        confirmed_transfers=Transfers(db, ledger.p2p, ledger.assets, SessionSends(db)),
        batcher=batcher,
        limits=Limits(
            api_user=RateLimiter.create(storage, "api-user", settings.api_rate_limit),
            api_ip=RateLimiter.create(storage, "api-ip", settings.api_ip_rate_limit),
            bot=RateLimiter.create(storage, "bot", settings.bot_rate_limit),
        ),
        identity=IdentityCache(asyncpg_dsn(app_url)),
        admin_ids=settings.admin_ids,
        on_user_created=ledger.on_created,
        realtime=realtime(settings, app_url),
        webapp_url=settings.webapp_url,
        version=platform_version(),
    )


def realtime(settings: Settings, app_url: str) -> Realtime:
    hub = EventHub(
        max_per_user=settings.realtime_max_connections,
        max_pending=settings.realtime_send_buffer,
    )
    # The service login, as the service: it reads every user's events and filters them itself.
    listener = EventListener(
        asyncpg_dsn(app_url),
        hub,
        server_settings={"role": SERVICE_ROLE, "application_name": "goodvibe-realtime"},
    )
    return Realtime(
        hub=hub,
        listener=listener,
        retention_seconds=settings.realtime_retention,
        presence=Presence(cap=settings.realtime_max_connections),
    )
