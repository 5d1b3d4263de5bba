"""`Services`: every dependency the front doors share, built once by `bootstrap` for any role.

The bot receives them by name (`Dispatcher(**services.for_handlers())`: a handler asks for
`db`, `catalog`, `ledger` … as parameters), the HTTP app holds the same object. A capability
adds its field here and one line to `bootstrap`; nothing has a default, so a dependency
forgotten at the composition root is a `TypeError` at start, never a second copy made in
passing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, fields
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiogram import Bot

from app.settings import Settings
from db.database import Database, create_database
from db.roles import SERVICE_ROLE
from db.urls import app_url_from_owner, asyncpg_dsn
from integrations.telegram.gift_share import BotGiftShare
from integrations.telegram.stars import BotStars
from services.generation.setup import generation
from services.generation.usecase import Generation
from services.gifts.usecase import Gifts
from services.i18n import Catalog, load_catalog
from services.ledger.amounts import parse_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS
from services.market.config import MarketRules
from services.market.usecase import Market
from services.promo.batcher import RedemptionBatcher
from services.promo.usecase import Promos
from services.purchases.packs import parse_packs
from services.purchases.service import PurchaseConfig
from services.purchases.usecase import Purchases
from services.ratelimit.limiter import RateLimiter, make_storage
from services.realtime.hub import EventHub
from services.realtime.listener import EventListener
from services.realtime.presence import Presence
from services.realtime.service import Realtime
from services.realtime.wakeups import RedisWakeups
from services.referrals.config import FraudRules, ReferralConfig, parse_levels
from services.referrals.service import binding_hook, direct_referrals
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
    # Stars purchases and the referral program they pay (`purchases.config.referrals`).
    purchases: Purchases
    # Promo codes: creation, redemption (rate limited per user and address), tracking.
    promos: Promos
    # Direct gifts, gift links and red packets.
    gifts: Gifts
    # The P2P order book (offers, fills, cancels), for both doors.
    market: Market
    # AI generation: the catalog, quotas, providers and media store the doors and workers share.
    generation: Generation

    def for_handlers(self) -> dict[str, Any]:
        """Workflow data for aiogram: each field under its own name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def platform_version() -> str:
    try:
        return version("goodvibe")
    except PackageNotFoundError:
        return "0.0.0+local"


def bootstrap(settings: Settings, owner_url: str, *, bot: Bot | None = None) -> Services:
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
    wakeups = RedisWakeups(settings.redis_url) if settings.redis_url else None
    batcher = SendBatcher(
        db, ledger.p2p, on_commit=wakeups.announce if wakeups is not None else None
    )
    identity = IdentityCache(asyncpg_dsn(app_url))
    sales = purchases(settings, db, bot)
    return Services(
        db=db,
        catalog=load_catalog(),
        ledger=ledger,
        transfers=Transfers(db, ledger.p2p, ledger.assets, batcher, identity),
        confirmed_transfers=Transfers(db, ledger.p2p, ledger.assets, SessionSends(db), identity),
        batcher=batcher,
        limits=Limits(
            api_user=RateLimiter.create(storage, "api-user", settings.api_rate_limit),
            api_ip=RateLimiter.create(storage, "api-ip", settings.api_ip_rate_limit),
            bot=RateLimiter.create(storage, "bot", settings.bot_rate_limit),
        ),
        identity=identity,
        admin_ids=settings.admin_ids,
        on_user_created=(*ledger.on_created, binding_hook(sales.config.referrals)),
        realtime=realtime(settings, app_url, wakeups),
        webapp_url=settings.webapp_url,
        version=platform_version(),
        purchases=sales,
        promos=Promos(
            db,
            ledger.assets,
            user_limit=RateLimiter.create(storage, "promo-user", settings.promo_rate_limit),
            ip_limit=RateLimiter.create(storage, "promo-ip", settings.promo_ip_rate_limit),
            batcher=RedemptionBatcher(db),
        ),
        gifts=Gifts(
            db,
            ledger.assets,
            ttl=timedelta(days=settings.gift_ttl_days),
            # Unset: the local sandbox bot's name (gift links do not ask getMe yet).
            bot_username=settings.bot_username or "goodvibe_local_bot",
            p2p=ledger.p2p,
            link_key=gift_link_key(settings),
            share=BotGiftShare(bot) if bot is not None else None,
        ),
        market=Market(db, market_rules(settings), ledger.assets),
        generation=generation(settings, db),
    )


def gift_link_key(settings: Settings) -> bytes:
    """GIFT_LINK_KEY, else a key derived from the bot token, else random for this process."""
    if settings.gift_link_key is not None:
        return settings.gift_link_key.get_secret_value().encode()
    if settings.bot_token is not None:
        token = settings.bot_token.get_secret_value().encode()
        return hmac.new(token, b"gift-link-key", hashlib.sha256).digest()
    return secrets.token_bytes(32)


def market_rules(settings: Settings) -> MarketRules:
    return MarketRules(
        fee_bps=settings.market_fee_bps,
        max_open_offers=settings.market_max_open_offers,
        offer_ttl=settings.market_offer_ttl,
    )


def realtime(settings: Settings, app_url: str, wakeups: RedisWakeups | None = None) -> Realtime:
    hub = EventHub(
        max_per_user=settings.realtime_max_connections,
        max_pending=settings.realtime_send_buffer,
    )
    # The service login, as the service: it reads every user's events and filters them itself.
    listener = EventListener(
        asyncpg_dsn(app_url),
        hub,
        server_settings={"role": SERVICE_ROLE, "application_name": "goodvibe-realtime"},
        poll_seconds=settings.realtime_poll_ms / 1000,
    )
    return Realtime(
        hub=hub,
        listener=listener,
        retention_seconds=settings.realtime_retention,
        presence=Presence(cap=settings.realtime_max_connections, referrals=direct_referrals),
        wakeups=wakeups,
    )


def purchases(settings: Settings, db: Database, bot: Bot | None) -> Purchases:
    fraud = FraudRules(
        velocity_per_hour=settings.referral_fraud_velocity,
        farm_referees=settings.referral_fraud_farm_referees,
        farm_days=settings.referral_fraud_farm_days,
        refund_loops=settings.referral_fraud_refunds,
        daily_cap=parse_amount(settings.referral_daily_cap, DEFAULT_ASSET_DECIMALS),
    )
    referrals = ReferralConfig(
        levels_bps=parse_levels(settings.referral_levels_bps),
        hold_days=settings.referral_hold_days,
        on_ai_spend=settings.referral_on_ai_spend,
        fraud=fraud,
    )
    return Purchases(
        db=db,
        config=PurchaseConfig(parse_packs(settings.stars_packs), referrals),
        stars=BotStars(bot) if bot is not None else None,
        bot_username=settings.bot_username,
        app_name=settings.miniapp_name,
    )
