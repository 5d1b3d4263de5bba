"""`Services` and the HTTP door's config as tests build them: the composition root's shape with
test values, so a field added to `Services` fails here first."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.capabilities import CAPABILITIES, http_routes
from app.services import Limits, Services
from db.database import Database
from services.i18n import Catalog
from services.realtime.hub import EventHub
from services.realtime.listener import EventListener
from services.realtime.presence import DirectReferrals, Presence, no_referrals
from services.realtime.service import Realtime
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig
from services.transfers.usecase import SessionSends, Transfers
from services.users.cache import IdentityCache
from webapp_api.app import api_specs, create_root_app, openapi_document
from webapp_api.context import HttpConfig
from webapp_api.initdata import InitDataCheck
from webapp_api.registry import RouteSpec

API_TOKEN = "7000000002:api-test-token_signing-initdata"
MAX_AGE = 3600
NO_LIMITS = Limits(api_user=None, api_ip=None, bot=None)


def make_services(
    db: Database, catalog: Catalog, *, sender: SendBatcher | None = None, **overrides: Any
) -> Services:
    """`sender`: the Mini App's sends through that batcher; None: one transaction each."""
    ledger = overrides.pop("ledger", None) or LedgerConfig()
    one_by_one = Transfers(db, ledger.p2p, ledger.assets, SessionSends(db))
    values: dict[str, Any] = {
        "db": db,
        "catalog": catalog,
        "ledger": ledger,
        "transfers": one_by_one
        if sender is None
        else Transfers(db, ledger.p2p, ledger.assets, sender),
        "confirmed_transfers": one_by_one,
        "batcher": sender,
        "limits": NO_LIMITS,
        # No listener: never trusted, every request reads (tests/integration/test_identity_cache
        # gives one its own).
        "identity": IdentityCache(),
        "admin_ids": frozenset({900}),
        "on_user_created": ledger.on_created,
        "realtime": realtime_of(None),
        "webapp_url": "https://app.example.test/",
        "version": "test",
    }
    values.update(overrides)
    return Services(**values)


def realtime_of(dsn: str | None, referrals: DirectReferrals = no_referrals, **hub: Any) -> Realtime:
    """Realtime for a test: its listener (not started unless the test runs it) reads `dsn`, the
    service login's; None for tests that open no WebSocket. The cap across instances is the
    hub's; `referrals` stands in for the referral engine."""
    events = EventHub(**hub)
    listener = EventListener(
        dsn or "postgresql://unused.invalid/none",
        events,
        server_settings={"role": "gv_service"},
        poll_seconds=0.1,
    )
    presence = Presence(cap=events.max_per_user, referrals=referrals)
    return Realtime(hub=events, listener=listener, retention_seconds=600, presence=presence)


def http_config(token: str = API_TOKEN, **overrides: Any) -> HttpConfig:
    values: dict[str, Any] = {
        "init_data_check": InitDataCheck(bot_token=token),
        "init_data_max_age": MAX_AGE,
    }
    values.update(overrides)
    return HttpConfig(**values)


def root_app(services: Services, config: HttpConfig | None = None) -> web.Application:
    """The HTTP doors as the platform mounts them, with every capability's routes."""
    return create_root_app(services, config or http_config(), routes=http_routes(CAPABILITIES))


def platform_openapi() -> dict[str, Any]:
    """The OpenAPI document of the platform's `/api/v1` (every capability mounted)."""
    return openapi_document("test", http_routes(CAPABILITIES))


def platform_specs() -> list[RouteSpec]:
    return api_specs(http_routes(CAPABILITIES))
