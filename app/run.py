"""The composition root: settings → database → migrations → `Services` → the doors and workers.

Every role builds the same `Services`; `--role` only chooses which components start. Each
component is one line below; they stop in the reverse order of these lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from enum import StrEnum

from aiogram import Bot

from app.capabilities import CAPABILITIES, bot_commands, bot_routers, http_routes, provider_webhooks
from app.components import (
    Components,
    Grace,
    bot_polling,
    bot_session,
    bot_updates,
    database_pool,
    embedded_database,
    generation_worker,
    http_server,
    identity_cache,
    local_sandbox,
    outbox_delivery,
    provider_clients,
    realtime_listener,
    scheduler,
    set_menu,
    transfer_batcher,
)
from app.services import Services, bootstrap
from app.settings import BotMode, InitDataValidation, Settings
from bot.client import make_bot
from bot.dispatcher import build_dispatcher
from bot.local_token import local_bot_token
from bot.webhook import mount_webhook
from db.migrate import upgrade
from sandbox.initdata import KEY_FILE, load_signing_key
from sandbox.local import RunningSandbox
from services.generation.worker import WorkerConfig
from webapp_api.app import create_root_app
from webapp_api.context import HttpConfig
from webapp_api.initdata import TELEGRAM_PUBLIC_KEYS, InitDataCheck, ThirdPartyKey
from webapp_api.miniapp import TELEGRAM_WEB_APP_JS

log = logging.getLogger(__name__)


class Role(StrEnum):
    ALL = "all"
    BOT = "bot"
    API = "api"
    WORKER = "worker"


def init_data_check(settings: Settings, bot_token: str) -> InitDataCheck:
    """INIT_DATA_VALIDATION as a check: the HMAC with the bot token, the Ed25519 signature with
    BOT_ID and TELEGRAM_PUBLIC_KEY (unset: Telegram's production key, or the sandbox's own key
    in local mode without BOT_ID), or both."""
    mode = settings.init_data_validation
    if mode is InitDataValidation.HMAC:
        return InitDataCheck(bot_token=bot_token)
    key_name = settings.telegram_public_key
    if key_name in TELEGRAM_PUBLIC_KEYS:
        public_key = TELEGRAM_PUBLIC_KEYS[key_name]
    elif key_name:
        public_key = bytes.fromhex(key_name)
    elif settings.bot_token is None and settings.sandbox and settings.bot_id is None:
        # Plain local mode: the data comes from the sandbox. A BOT_ID means a real bot's data.
        signing_key = load_signing_key(settings.data_dir / KEY_FILE)
        public_key = signing_key.public_key().public_bytes_raw()
    else:
        public_key = TELEGRAM_PUBLIC_KEYS["production"]
    bot_id = settings.bot_id or int(bot_token.split(":", 1)[0])
    return InitDataCheck(
        bot_token=bot_token if mode is InitDataValidation.BOTH else None,
        third_party=ThirdPartyKey(bot_id, public_key),
    )


def http_config(settings: Settings, sandbox: RunningSandbox | None) -> HttpConfig:
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    # Without a bot token, initData is checked with the local token the sandbox signs with.
    check = init_data_check(settings, token or local_bot_token(settings.data_dir))
    return HttpConfig(
        init_data_check=check,
        init_data_max_age=settings.init_data_max_age,
        cors_origins=settings.cors_origins,
        max_body_bytes=settings.api_max_body_bytes,
        telegram_js_url=sandbox.shim_url if sandbox is not None else TELEGRAM_WEB_APP_JS,
    )


def wants_sandbox(settings: Settings, role: Role) -> bool:
    """Without BOT_TOKEN (unless SANDBOX=false) a local fake Telegram runs for the bot."""
    return settings.bot_token is None and settings.sandbox and role in (Role.ALL, Role.BOT)


async def run(settings: Settings, role: Role, stop: asyncio.Event) -> None:
    """Run until `stop` is set, then stop every component in the reverse order of its start."""
    grace = Grace(settings.shutdown_grace_seconds)
    async with contextlib.AsyncExitStack() as stack:
        parts = Components(stack)
        owner_url = settings.database_url
        if not owner_url:
            owner_url = await parts.start("embedded PostgreSQL", embedded_database(settings))
        sandbox = None
        if wants_sandbox(settings, role):
            sandbox = await parts.start("local Telegram", local_sandbox(settings))
        await upgrade(owner_url)
        bot, api_base = bot_client(settings, sandbox)
        services = bootstrap(settings, owner_url, bot=bot)
        await parts.start("database pool", database_pool(services.db), "closed")
        await parts.start("AI provider clients", provider_clients(services), "closed")
        if services.batcher is not None:
            await parts.start("transfer batcher", transfer_batcher(services.batcher), "closed")

        if role in (Role.ALL, Role.API):
            await parts.start("identity cache", identity_cache(services.identity), "closed")
        if bot is not None:
            await parts.start("bot session", bot_session(bot), "closed")
        elif sandbox is None:
            log.warning(
                "BOT_TOKEN is not set: the API and workers run without Telegram; "
                "set BOT_TOKEN (and TELEGRAM_API_BASE for a local Bot API server) to enable the bot"
            )
        if role in (Role.ALL, Role.WORKER) and bot is not None:
            rate = settings.notify_rate_per_second
            await parts.start("outbox delivery", outbox_delivery(services, bot, rate, grace))
        if role in (Role.ALL, Role.WORKER):
            worker_config = WorkerConfig(public_base_url=settings.public_base_url)
            await parts.start(
                "generation worker", generation_worker(services, worker_config, grace, bot)
            )

        serve_bot = role in (Role.ALL, Role.BOT) and bot is not None
        serve_api = role in (Role.ALL, Role.API)
        # The sandbox is polled: a webhook would need a public URL it cannot have.
        webhook = serve_bot and settings.bot_mode is BotMode.WEBHOOK and sandbox is None
        dispatcher = build_dispatcher(services, capability_routers=bot_routers(CAPABILITIES))
        webhook_handler = None
        config = None
        if serve_api or webhook:
            config = http_config(settings, sandbox)
            app = create_root_app(
                services,
                config,
                routes=http_routes(CAPABILITIES),
                api=serve_api,
                providers=provider_webhooks(CAPABILITIES, services),
            )
            if webhook and bot is not None:
                secret = settings.webhook_secret
                webhook_handler = mount_webhook(
                    app,
                    dispatcher,
                    bot,
                    path=settings.webhook_path,
                    secret=secret.get_secret_value() if secret else None,
                )
        if serve_bot:
            await parts.start(
                "bot updates", bot_updates(dispatcher, grace, webhook_handler), "finished"
            )
        if serve_api:
            await parts.start(
                "realtime listener", realtime_listener(services.realtime, services.db)
            )
        # Most of what the process allocates is allocated by now and lives as long as it does
        # (modules, schemas, pools: ~280,000 objects). Frozen, the collector's full passes skip
        # it: unfrozen, each pass stopped the process for 0.2-0.6 s under load (bench/http).
        gc.collect()
        gc.freeze()
        if serve_api or webhook:
            host, port = settings.api_host, settings.api_port
            await parts.start("HTTP server", http_server(app, host, port, grace))
        if role in (Role.ALL, Role.WORKER):
            await parts.start(
                "scheduler",
                scheduler(
                    services,
                    settings.hold_expiry_interval,
                    settings.referral_post_interval,
                    settings.market_expiry_interval,
                    settings.ai_webhook_receipt_hours * 3600,
                ),
            )
        if serve_bot and bot is not None:
            await set_menu(bot, services, bot_commands(CAPABILITIES))
            if webhook:
                await _set_webhook(settings, bot, dispatcher.resolve_used_update_types())
            else:
                await parts.start("bot polling", bot_polling(dispatcher, bot, api_base))

        _log_ready(settings, services, role, sandbox, config)
        await stop.wait()
        grace.begin()
        log.info("shutting down (grace %.1f s)", settings.shutdown_grace_seconds)


def bot_client(settings: Settings, sandbox: RunningSandbox | None) -> tuple[Bot | None, str]:
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    api_base = settings.telegram_api_base
    if token is None and sandbox is not None:
        token, api_base = sandbox.token, sandbox.api_base
    return (make_bot(token, api_base) if token else None), api_base


async def _set_webhook(settings: Settings, bot: Bot, updates: list[str]) -> None:
    assert settings.webhook_base_url is not None and settings.webhook_secret is not None
    await bot.set_webhook(
        url=settings.webhook_base_url.rstrip("/") + settings.webhook_path,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=updates,
    )
    log.info("bot receives updates by webhook at %s", settings.webhook_path)


def _log_ready(
    settings: Settings,
    services: Services,
    role: Role,
    sandbox: RunningSandbox | None,
    config: HttpConfig | None,
) -> None:
    log.info("Good Vibe Live %s is up (role %s)", services.version, role.value)
    third_party = config.init_data_check.third_party if config is not None else None
    if third_party is not None:
        log.info(
            "Mini App initData checked by %s: Ed25519 signature for bot id %s, public key %s",
            settings.init_data_validation.value,
            third_party.bot_id,
            third_party.public_key.hex(),
        )
    if sandbox is not None:
        log.info("local Telegram (no BOT_TOKEN): open the web chat at %s", sandbox.webchat_url)
        log.info(
            "local Telegram signs Mini App initData for bot id %s with Ed25519 public key %s "
            "(also at %sapi/initdata-key)",
            sandbox.server.bot_id,
            sandbox.initdata_public_key,
            sandbox.webchat_url,
        )
