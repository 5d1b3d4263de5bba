"""Every setting of the platform, read once at the composition root and passed down."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from limits import parse
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.purchases.packs import parse_packs
from services.referrals.config import parse_levels


class BotMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class InitDataValidation(StrEnum):
    """How the API trusts Mini App initData: the HMAC `hash` (needs the bot token), the
    Ed25519 `signature` (needs only BOT_ID and Telegram's public key), or both."""

    HMAC = "hmac"
    ED25519 = "ed25519"
    BOTH = "both"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    bot_mode: BotMode = BotMode.POLLING
    # Without BOT_TOKEN a local fake Telegram (Bot API + web chat) runs beside the platform.
    sandbox: bool = True
    # Loopback unless asked: the sandbox signs Mini App initData for anyone who asks it.
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8081, ge=0, le=65535)
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/telegram/webhook"

    database_url: str | None = None
    app_database_url: str | None = None
    app_user_database_url: str | None = None
    data_dir: Path = Path("./.data")
    db_pool_size: int = Field(default=10, ge=1, le=200)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Unset: the reference Mini App this process serves, http://API_HOST:API_PORT/app/.
    webapp_url: str = ""
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    init_data_max_age: int = Field(default=86_400, ge=1)
    init_data_validation: InitDataValidation = Field(
        default=InitDataValidation.HMAC,
        description="hmac: check initData's `hash` with the bot token; ed25519: check its "
        "`signature` with BOT_ID and TELEGRAM_PUBLIC_KEY only (for a service that must not hold "
        "the token); both: require both",
    )
    bot_id: int | None = Field(
        default=None,
        ge=1,
        description="The bot's id for ed25519 initData checks; unset: taken from the bot token "
        "(or the local one in local mode)",
    )
    telegram_public_key: str | None = Field(
        default=None,
        description="Ed25519 key that signs initData: production, test, or 64 hex characters; "
        "unset: production, or the sandbox's own key in local mode",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    redis_url: str | None = None

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT

    notify_rate_per_second: int = Field(default=30, ge=1, le=1000)
    api_rate_limit: str = "120/minute"
    api_ip_rate_limit: str = "1200/minute"
    bot_rate_limit: str = "30/minute"

    welcome_bonus: str = Field(
        default="20",
        pattern=r"^\d+(\.\d{1,6})?$",
        description="VIBE granted once to every new user (a human amount, e.g. 20 or 0.5); "
        "0 disables",
    )
    p2p_fee_bps: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Fee on user-to-user transfers in basis points (50 = 0.5%), paid by the sender "
        "to the platform's fees account; rounded down",
    )
    p2p_min_amount: str = Field(
        default="0.01",
        pattern=r"^\d+(\.\d+)?$",
        description="Smallest user-to-user transfer, as a human amount in the sent asset's "
        "own unit",
    )
    p2p_daily_limit: str = Field(
        default="100000",
        pattern=r"^\d+(\.\d+)?$",
        description="Most a user may send to other users per UTC day and asset (human amount in "
        "that asset's unit); 0 disables the limit",
    )
    shutdown_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="Seconds that HTTP requests, bot updates and outbox sends under way get to "
        "finish after SIGTERM/SIGINT before they are cancelled",
    )
    hold_expiry_interval: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="Seconds between runs of the job that voids holds past their timeout",
    )
    realtime_retention: int = Field(
        default=600,
        ge=10,
        le=7 * 86400,
        description="Seconds realtime events are kept for a reconnecting client's resume",
    )
    realtime_max_connections: int = Field(
        default=5,
        ge=1,
        le=100,
        description="WebSockets one user may keep open on one instance",
    )
    realtime_send_buffer: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="Events queued for one WebSocket before it is closed as a slow consumer",
    )
    realtime_poll_ms: int = Field(
        default=25,
        ge=5,
        le=5000,
        description="Milliseconds between the realtime listener's reads of new events: the "
        "ledger's events carry no NOTIFY, so this bounds their delivery latency",
    )
    promo_rate_limit: str = Field(
        default="10/minute",
        description="Promo code attempts per Telegram user (successful or not), in the "
        "`limits` notation",
    )
    promo_ip_rate_limit: str = Field(
        default="60/minute",
        description="Promo code attempts per client address through the API",
    )
    gift_link_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Derives gift link secrets (HMAC of the gift id), so the creator can share "
        "an open link again (inline mode); unset: derived from BOT_TOKEN, or random per process",
    )
    gift_ttl_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days after which an unclaimed gift link or red packet returns to its creator",
    )

    stars_packs: str = Field(
        default="50:100,250:550,1000:2400",
        description="Token packs sold for Telegram Stars: comma-separated stars:VIBE "
        "(VIBE a human amount)",
    )
    bot_username: str = Field(
        default="",
        pattern=r"^([A-Za-z][A-Za-z0-9_]{3,31})?$",
        description="The bot's @username (without @) for referral links; unset: asked from "
        "Telegram (getMe)",
    )
    miniapp_name: str = Field(
        default="app",
        pattern=r"^[A-Za-z0-9_]{3,30}$",
        description="The Mini App's short name (BotFather /newapp) for t.me/<bot>/<app> links",
    )
    referral_levels_bps: str = Field(
        default="1000,500,300,200,100,100,50,50",
        description="Referral reward per level in basis points, level 1 first, at most 8",
    )
    referral_hold_days: int = Field(
        default=7, ge=0, le=365, description="Days a referral reward is held before it is paid"
    )
    referral_on_ai_spend: bool = Field(
        default=False, description="Whether VIBE spent on AI generation earns referral rewards"
    )
    referral_post_interval: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Seconds between runs of the jobs that pay due referral rewards, tell "
        "referrers and look for farms",
    )
    referral_fraud_velocity: int = Field(
        default=20,
        ge=1,
        description="New level-1 referees per hour above which a referrer is flagged",
    )
    referral_fraud_farm_referees: int = Field(
        default=10,
        ge=1,
        description="Idle level-1 referees (no purchase after REFERRAL_FRAUD_FARM_DAYS) that "
        "flag a referrer as a farm",
    )
    referral_fraud_farm_days: int = Field(default=7, ge=1, le=365)
    referral_fraud_refunds: int = Field(
        default=2, ge=1, description="Refunds within 30 days that flag a buyer"
    )
    referral_daily_cap: str = Field(
        default="10000",
        pattern=r"^\d+(\.\d{1,6})?$",
        description="VIBE of rewards per referrer per UTC day above which they are flagged",
    )

    market_fee_bps: int = Field(
        default=30,
        ge=0,
        le=9_999,
        description="Market fee in basis points (30 = 0.3%) on what a taker receives, paid from "
        "it to the platform's fees account; rounded down",
    )
    market_max_open_offers: int = Field(
        default=20, ge=1, le=1000, description="Open market offers one user may have at once"
    )
    market_offer_ttl: int = Field(
        default=7 * 86400,
        ge=60,
        le=365 * 86400,
        description="Seconds a market offer stays open unless filled or cancelled first",
    )
    market_expiry_interval: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Seconds between runs of the job that expires market offers",
    )
    # --- AI generation (README "AI generation") ---
    ai_catalog_file: Path | None = None
    ai_daily_per_kind: int = Field(default=50, ge=0, description="Jobs per user, kind and day")
    ai_concurrent_jobs: int = Field(default=2, ge=1, description="Unfinished jobs per user")
    ai_daily_budget_usd: float = Field(
        default=50.0, ge=0, description="What the providers may cost per UTC day, all users"
    )
    ai_local_seconds: float = Field(
        default=3.0, ge=0, le=600, description="How long the local provider takes for an image"
    )
    ai_media_dir: Path | None = None
    ai_webhook_receipt_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 365,
        description="Hours a provider callback's receipt (its dedup record) is kept",
    )
    public_base_url: str | None = None
    bfl_api_key: SecretStr | None = None
    bfl_api_base: str = "https://api.bfl.ai"
    replicate_api_token: SecretStr | None = None
    replicate_api_base: str = "https://api.replicate.com"
    replicate_webhook_secret: SecretStr | None = None
    runway_api_key: SecretStr | None = None
    runway_api_base: str = "https://api.dev.runwayml.com"
    gemini_api_key: SecretStr | None = None
    gemini_api_base: str = "https://generativelanguage.googleapis.com"
    suno_api_key: SecretStr | None = None
    suno_api_base: str = "https://api.sunoapi.org"
    # A midjourney-proxy deployment has no public default host: both are needed.
    mj_api_key: SecretStr | None = None
    mj_api_base: str | None = None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(",", " ").split())
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator(
        "api_rate_limit",
        "api_ip_rate_limit",
        "bot_rate_limit",
        "promo_rate_limit",
        "promo_ip_rate_limit",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError("must look like '120/minute' or '5 per 10 seconds'") from None
        return value

    @field_validator("telegram_public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip().lower()
        if value not in ("production", "test") and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be production, test, or a 32-byte Ed25519 key in hex")
        return value

    @field_validator("stars_packs")
    @classmethod
    def _packs(cls, value: str) -> str:
        parse_packs(value)
        return value

    @field_validator("referral_levels_bps")
    @classmethod
    def _levels(cls, value: str) -> str:
        parse_levels(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _default_webapp_url(self) -> Settings:
        if not self.webapp_url:
            self.webapp_url = f"http://{self.api_host}:{self.api_port}/app/"
        return self

    @field_validator("telegram_api_base", "webapp_url", "webhook_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("database_url", "app_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value


class SettingsError(Exception):
    """A setting is wrong; the message names it in one line."""


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None
    if settings.bot_mode is BotMode.WEBHOOK and settings.bot_token is not None:
        if not settings.webhook_base_url:
            raise SettingsError("invalid setting WEBHOOK_BASE_URL: required when BOT_MODE=webhook")
        if settings.webhook_secret is None:
            raise SettingsError("invalid setting WEBHOOK_SECRET: required when BOT_MODE=webhook")
    third_party = settings.init_data_validation is not InitDataValidation.HMAC
    if (
        third_party
        and settings.bot_id is None
        and settings.bot_token is None
        and not settings.sandbox
    ):
        raise SettingsError(
            f"invalid setting BOT_ID: required when INIT_DATA_VALIDATION="
            f"{settings.init_data_validation.value} and there is no BOT_TOKEN"
        )
    return settings
