"""`Services` and the HTTP door's config as tests build them: the composition root's shape with
test values, so a field added to `Services` fails here first."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from app.capabilities import CAPABILITIES, http_routes
from app.services import Limits, Services
from db.database import Database
from integrations.ai.local import LocalProvider
from services.generation.catalog import load_model_catalog
from services.generation.media import MediaStore
from services.generation.service import Quotas
from services.generation.usecase import Generation
from services.gifts.usecase import Gifts
from services.i18n import Catalog
from services.market.config import MarketRules
from services.market.usecase import Market
from services.promo.batcher import RedemptionBatcher
from services.promo.usecase import Promos
from services.purchases.packs import parse_packs
from services.purchases.service import PurchaseConfig
from services.purchases.usecase import Purchases
from services.realtime.hub import EventHub
from services.realtime.listener import EventListener
from services.realtime.presence import DirectReferrals, Presence, no_referrals
from services.realtime.service import Realtime
from services.referrals.config import ReferralConfig
from services.referrals.service import binding_hook
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
    # No listener: never trusted, every request reads (tests/integration/test_identity_cache
    # gives one its own).
    identity = overrides.pop("identity", None)
    identity = IdentityCache() if identity is None else identity
    one_by_one = Transfers(db, ledger.p2p, ledger.assets, SessionSends(db), identity)
    sales = overrides.pop("purchases", None) or purchases_of(db)
    values: dict[str, Any] = {
        "db": db,
        "catalog": catalog,
        "ledger": ledger,
        "transfers": one_by_one
        if sender is None
        else Transfers(db, ledger.p2p, ledger.assets, sender, identity),
        "confirmed_transfers": one_by_one,
        "batcher": sender,
        "limits": NO_LIMITS,
        "identity": identity,
        "admin_ids": frozenset({900}),
        "on_user_created": (*ledger.on_created, binding_hook(sales.config.referrals)),
        "realtime": realtime_of(None),
        "webapp_url": "https://app.example.test/",
        "version": "test",
        "purchases": sales,
        "promos": Promos(
            db, ledger.assets, user_limit=None, ip_limit=None, batcher=RedemptionBatcher(db)
        ),
        "gifts": Gifts(
            db,
            ledger.assets,
            ttl=timedelta(days=7),
            bot_username="goodvibe_local_bot",
            p2p=ledger.p2p,
        ),
        "market": Market(db, MarketRules(), ledger.assets),
        "generation": test_generation(db),
    }
    values.update(overrides)
    return Services(**values)


def purchases_of(db: Database, *, stars: Any = None, **referrals: Any) -> Purchases:
    """The default packs (STARS_PACKS's default), referral rules with `referrals` overridden;
    `stars`: a gateway (a `BotStars` on the sandbox's bot) or None."""
    config = PurchaseConfig(parse_packs("50:100,250:550,1000:2400"), ReferralConfig(**referrals))
    return Purchases(db, config, stars, bot_username="goodvibe_test_bot", app_name="app")


def test_generation(db: Database) -> Generation:
    """The built-in catalog on the local provider, instant, its media in a temporary dir."""
    return Generation(
        db=db,
        models=load_model_catalog(None),
        quotas=Quotas(),
        providers={"local": LocalProvider(0.0)},
        media=MediaStore(Path(tempfile.mkdtemp(prefix="gv-media-"))),
    )


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
