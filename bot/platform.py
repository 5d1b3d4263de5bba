"""The composition root: settings → database → migrations → services → bot, API, workers.

Every role runs the same wiring; `--role` only chooses which front doors open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from limits.aio.storage import Storage

from bot.commands import set_command_menu
from bot.dispatcher import build_dispatcher
from bot.local_token import local_bot_token
from bot.settings import BotMode, InitDataValidation, Settings
from db.database import Database, create_database
from db.embedded import EmbeddedPostgres, start_embedded
from db.migrate import upgrade
from db.urls import app_url_from_owner, asyncpg_dsn
from integrations.telegram.sender import BotMessageSender
from sandbox.initdata import KEY_FILE, load_signing_key
from sandbox.local import RunningSandbox, run_sandbox
from services.i18n import Catalog, load_catalog
from services.ledger.tasks import expire_holds
from services.notifications.delivery import OutboxDelivery
from services.notifications.maintenance import purge_delivered
from services.ratelimit.limiter import MemoryWindows, RateLimiter, make_storage
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig, ledger_config
from services.users.cache import IdentityCache
from webapp_api.app import create_api_app
from webapp_api.context import ApiContext
from webapp_api.initdata import TELEGRAM_PUBLIC_KEYS, InitDataCheck, ThirdPartyKey
from webapp_api.miniapp import TELEGRAM_WEB_APP_JS
from webapp_api.server import make_runner

log = logging.getLogger(__name__)

# How long a task cancelled at the end of the grace period gets to unwind (roll back, release).
_CANCELLED_SECONDS = 1.0


class Role(StrEnum):
    ALL = "all"
    BOT = "bot"
    API = "api"
    WORKER = "worker"


def platform_version() -> str:
    try:
        return version("goodvibe")
    except PackageNotFoundError:
        return "0.0.0+local"


@contextlib.asynccontextmanager
async def owner_database(settings: Settings) -> AsyncIterator[str]:
    """The owner URL: DATABASE_URL, or the embedded server started for the duration."""
    if settings.database_url:
        yield settings.database_url
        return
    embedded: EmbeddedPostgres = await asyncio.to_thread(start_embedded, settings.data_dir)
    try:
        yield embedded.owner_url
    finally:
        with shutdown_step("embedded PostgreSQL stopped"):
            await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def local_sandbox(settings: Settings, role: Role) -> AsyncIterator[RunningSandbox | None]:
    """Without BOT_TOKEN (unless SANDBOX=false) a local fake Telegram runs for the bot."""
    if settings.bot_token is not None or not settings.sandbox or role not in (Role.ALL, Role.BOT):
        yield None
        return
    token = local_bot_token(settings.data_dir)
    async with run_sandbox(
        token,
        settings.sandbox_host,
        settings.sandbox_port,
        webapp_url=settings.webapp_url,
        users_file=settings.data_dir / "sandbox_users.json",
        signing_key=load_signing_key(settings.data_dir / KEY_FILE),
        state_dir=settings.data_dir / "sandbox",
    ) as sandbox:
        yield sandbox
        log.info("shutdown: stopping the local Telegram")


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


def make_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


@dataclass
class Platform:
    settings: Settings
    db: Database
    catalog: Catalog
    bot: Bot | None
    dispatcher: Dispatcher
    bot_token: str
    init_data_check: InitDataCheck
    rate_limits: Storage | MemoryWindows
    ledger: LedgerConfig
    sender: SendBatcher
    # The API's users, cached while its listener hears every change (started by `run`).
    identity: IdentityCache = field(default_factory=IdentityCache)
    version: str = field(default_factory=platform_version)
    # Where the bot's Bot API is (the local sandbox in local mode) and which WebApp script the
    # Mini App page loads (the sandbox's shim in local mode).
    api_base: str = "https://api.telegram.org"
    telegram_js_url: str = TELEGRAM_WEB_APP_JS
    # Set once api_app mounts the webhook: it handles each posted update in a task of its own.
    webhook: SimpleRequestHandler | None = None

    def api_app(self, *, with_api: bool, with_webhook: bool) -> web.Application:
        context = ApiContext(
            db=self.db,
            catalog=self.catalog,
            bot_token=self.bot_token,
            init_data_max_age=self.settings.init_data_max_age,
            init_data_check=self.init_data_check,
            admin_ids=self.settings.admin_ids,
            version=self.version,
            user_limiter=RateLimiter.create(
                self.rate_limits, "api-user", self.settings.api_rate_limit
            ),
            ip_limiter=RateLimiter.create(
                self.rate_limits, "api-ip", self.settings.api_ip_rate_limit
            ),
            ledger=self.ledger,
            sender=self.sender,
            identity=self.identity,
        )
        app = create_api_app(
            context,
            cors_origins=self.settings.cors_origins,
            max_body_bytes=self.settings.api_max_body_bytes,
            api=with_api,
            telegram_js_url=self.telegram_js_url,
        )
        if with_webhook and self.bot is not None:
            secret = self.settings.webhook_secret
            self.webhook = SimpleRequestHandler(
                self.dispatcher,
                self.bot,
                secret_token=secret.get_secret_value() if secret else None,
            )
            self.webhook.register(app, path=self.settings.webhook_path)
        return app


def build_platform(
    settings: Settings, owner_url: str, sandbox: RunningSandbox | None = None
) -> Platform:
    app_url = settings.app_database_url or app_url_from_owner(owner_url)
    # Unset: the service connection's server and database, as the user login.
    db = create_database(
        app_url, user_url=settings.app_user_database_url, pool_size=settings.db_pool_size
    )
    catalog = load_catalog()
    rate_limits = make_storage(settings.redis_url)
    ledger = ledger_config(
        welcome_bonus=settings.welcome_bonus,
        fee_bps=settings.p2p_fee_bps,
        min_amount=settings.p2p_min_amount,
        daily_limit=settings.p2p_daily_limit,
    )
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    api_base = settings.telegram_api_base
    if token is None and sandbox is not None:
        token, api_base = sandbox.token, sandbox.api_base
    bot = make_bot(token, api_base) if token else None
    # What the API checks initData with: the bot's token, or the local one without it.
    api_token = token or local_bot_token(settings.data_dir)
    dispatcher = build_dispatcher(
        db=db,
        catalog=catalog,
        admin_ids=settings.admin_ids,
        webapp_url=settings.webapp_url,
        throttle=RateLimiter.create(rate_limits, "bot", settings.bot_rate_limit),
        ledger=ledger,
    )
    return Platform(
        settings=settings,
        db=db,
        catalog=catalog,
        bot=bot,
        dispatcher=dispatcher,
        api_base=api_base,
        telegram_js_url=sandbox.shim_url if sandbox is not None else TELEGRAM_WEB_APP_JS,
        bot_token=api_token,
        init_data_check=init_data_check(settings, api_token),
        rate_limits=rate_limits,
        ledger=ledger,
        sender=SendBatcher(db, ledger.p2p),
        identity=IdentityCache(asyncpg_dsn(app_url)),
    )


async def _serve_http(app: web.Application, host: str, port: int, grace: float) -> web.AppRunner:
    # On cleanup the listener closes at once; requests in flight get `grace`, then are cancelled.
    runner = make_runner(app, shutdown_timeout=grace, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("HTTP server on http://%s:%s (API under /api/v1)", host, port)
    return runner


async def _start_bot(platform: Platform, bot: Bot, *, webhook: bool) -> asyncio.Task[None] | None:
    settings = platform.settings
    try:
        await set_command_menu(bot, platform.catalog)
    except (TelegramNetworkError, TelegramAPIError) as exc:
        log.warning("could not set the command menu yet: %s", exc)
    if webhook:
        assert settings.webhook_base_url is not None and settings.webhook_secret is not None
        await bot.set_webhook(
            url=settings.webhook_base_url.rstrip("/") + settings.webhook_path,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=platform.dispatcher.resolve_used_update_types(),
        )
        log.info("bot receives updates by webhook at %s", settings.webhook_path)
        return None
    await bot.delete_webhook(drop_pending_updates=False)
    log.info("bot receives updates by long polling from %s", platform.api_base)
    return asyncio.create_task(
        platform.dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=platform.dispatcher.resolve_used_update_types(),
        )
    )


def _scheduler(platform: Platform) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        purge_delivered, "interval", hours=1, args=[platform.db], id="outbox_purge", coalesce=True
    )
    # Every instance schedules it; the advisory lock inside lets one of them do the work.
    scheduler.add_job(
        expire_holds,
        "interval",
        seconds=platform.settings.hold_expiry_interval,
        args=[platform.db],
        id="hold_expiry",
        coalesce=True,
        max_instances=1,
    )
    return scheduler


async def run(settings: Settings, role: Role, stop: asyncio.Event) -> None:
    """Run until `stop` is set, then shut down in order: intake first, storage last."""
    async with owner_database(settings) as owner_url, local_sandbox(settings, role) as sandbox:
        await upgrade(owner_url)
        platform = build_platform(settings, owner_url, sandbox)
        bot = platform.bot
        serve_bot = role in (Role.ALL, Role.BOT) and bot is not None
        serve_api = role in (Role.ALL, Role.API)
        serve_worker = role in (Role.ALL, Role.WORKER)
        if sandbox is None and bot is None:
            log.warning(
                "BOT_TOKEN is not set: the API and workers run without Telegram; "
                "set BOT_TOKEN (and TELEGRAM_API_BASE for a local Bot API server) to enable the bot"
            )
        # The sandbox is polled: a webhook would need a public URL it cannot have.
        webhook = serve_bot and settings.bot_mode is BotMode.WEBHOOK and sandbox is None
        runner = None
        if serve_api:
            await platform.identity.start()
        if serve_api or webhook:
            app = platform.api_app(with_api=serve_api, with_webhook=webhook)
            runner = await _serve_http(
                app, settings.api_host, settings.api_port, settings.shutdown_grace_seconds
            )
        polling = None
        if serve_bot and bot is not None:
            polling = await _start_bot(platform, bot, webhook=webhook)
        scheduler = delivery_task = None
        if serve_worker:
            scheduler = _scheduler(platform)
            scheduler.start()
            if bot is not None:
                delivery = OutboxDelivery(
                    platform.db,
                    BotMessageSender(bot),
                    platform.catalog,
                    settings.notify_rate_per_second,
                )
                delivery_task = asyncio.create_task(delivery.run_forever(stop))
        log.info("Good Vibe Live %s is up (role %s)", platform.version, role.value)
        third_party = platform.init_data_check.third_party
        if serve_api and third_party is not None:
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
        try:
            await stop.wait()
        finally:
            # Intake stops first; HTTP requests, bot updates and outbox sends already under way
            # then share one grace period; storage closes last.
            deadline = time.monotonic() + settings.shutdown_grace_seconds
            log.info("shutting down (grace %.1f s)", settings.shutdown_grace_seconds)
            if polling is not None:
                with shutdown_step("bot polling stopped"):
                    await _stop_polling(platform.dispatcher, polling)
            if scheduler is not None:
                # A job under way is cancelled: its transaction rolls back, the next run redoes it.
                with shutdown_step("scheduler stopped"):
                    scheduler.shutdown(wait=False)
            if runner is not None:
                with shutdown_step("HTTP server stopped"):
                    await runner.cleanup()
            with shutdown_step("bot updates finished"):
                await finish_within(_update_tasks(platform), deadline, "bot updates")
            if delivery_task is not None:
                with shutdown_step("outbox delivery stopped"):
                    await finish_within([delivery_task], deadline, "outbox delivery")
            if bot is not None:
                with shutdown_step("bot session closed"):
                    await bot.session.close()
            with shutdown_step("transfer batcher closed"):
                await platform.sender.close()
            with shutdown_step("identity cache closed"):
                await platform.identity.close()
            with shutdown_step("database pool closed"):
                await platform.db.dispose()


@contextlib.contextmanager
def shutdown_step(name: str) -> Iterator[None]:
    """Log a shutdown step with its duration; a failed step is logged and the next one runs."""
    began = time.monotonic()
    try:
        yield
    except Exception:
        log.exception("shutdown: %s failed", name)
    else:
        log.info("shutdown: %s (%.2f s)", name, time.monotonic() - began)


async def _stop_polling(dispatcher: Dispatcher, polling: asyncio.Task[None]) -> None:
    with contextlib.suppress(RuntimeError):  # polling already ended
        await dispatcher.stop_polling()
    await polling


def _update_tasks(platform: Platform) -> set[asyncio.Task[None]]:
    # aiogram handles each update, polled or posted to the webhook, in a task of its own and
    # does not wait for them when it stops; it keeps them in these sets.
    tasks = set(getattr(platform.dispatcher, "_handle_update_tasks", ()))
    if platform.webhook is not None:
        tasks |= set(getattr(platform.webhook, "_background_feed_update_tasks", ()))
    return tasks


async def finish_within(tasks: Collection[asyncio.Task[None]], deadline: float, what: str) -> None:
    """Let `tasks` finish until `deadline` (time.monotonic()), then cancel what is left."""
    pending = {task for task in tasks if not task.done()}
    if pending:
        _, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
    if pending:
        log.warning(
            "shutdown: %d %s still running after the grace period, cancelled", len(pending), what
        )
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=_CANCELLED_SECONDS)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("shutdown: %s failed", what, exc_info=task.exception())
