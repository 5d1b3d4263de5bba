"""The parts of a running process, each an async context manager that starts and stops itself.

`run()` enters them in order on one `AsyncExitStack`, so they stop in the reverse order: intake
first (polling, the scheduler, the HTTP listener), then the work under way (bot updates,
outbox sends) within the shared grace period, then the clients and storage they used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TypeVar

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.services import Services
from app.settings import Settings
from bot.commands import menu, set_command_menu
from bot.local_token import local_bot_token
from db.database import Database
from db.embedded import EmbeddedPostgres, start_embedded
from integrations.telegram.generation import BotChatDelivery
from integrations.telegram.sender import BotMessageSender
from sandbox.initdata import KEY_FILE, load_signing_key
from sandbox.local import RunningSandbox, run_sandbox
from services.announcements.service import fan_out
from services.generation.tasks import purge_webhook_receipts
from services.generation.worker import Worker, WorkerConfig
from services.gifts.tasks import expire_gifts
from services.ledger.tasks import expire_holds
from services.market.tasks import expire_offers
from services.notifications.delivery import OutboxDelivery
from services.notifications.maintenance import purge_delivered
from services.promo.tasks import close_expired_promos
from services.purchases.tasks import reconcile_stars
from services.realtime.service import Realtime
from services.realtime.tasks import presence_heartbeat, purge_events
from services.referrals.tasks import look_for_fraud, post_due_rewards, send_reward_notices
from services.transfers.batcher import SendBatcher
from services.users.cache import IdentityCache
from webapp_api.idempotency import purge_keys
from webapp_api.server import make_runner

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a task cancelled at the end of the grace period gets to unwind (roll back, release).
_CANCELLED_SECONDS = 1.0


class Grace:
    """One grace period for everything under way, counted from the moment stopping begins."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline: float | None = None

    def begin(self) -> None:
        self._deadline = time.monotonic() + self.seconds

    @property
    def deadline(self) -> float:
        # Stopping because starting failed: nothing gets to wait.
        return self._deadline if self._deadline is not None else time.monotonic()


class Components:
    """Enters components on an exit stack, logging each start and each stop with its duration;
    a stop that fails is logged and the next one still runs."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack
        self.started: list[str] = []

    async def start(
        self, name: str, component: AbstractAsyncContextManager[T], done: str = "stopped"
    ) -> T:
        value = await self._stack.enter_async_context(_Logged(f"{name} {done}", component))
        self.started.append(name)
        log.debug("started: %s", name)
        return value


class _Logged(AbstractAsyncContextManager[T]):
    def __init__(self, stopped: str, inner: AbstractAsyncContextManager[T]) -> None:
        self._stopped = stopped
        self._inner = inner

    async def __aenter__(self) -> T:
        return await self._inner.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        began = time.monotonic()
        try:
            await self._inner.__aexit__(exc_type, exc, tb)
        except Exception:
            log.exception("shutdown: %s failed", self._stopped)
        else:
            # Unwinding a start that failed: the failure is the news, said once by the caller.
            level = logging.INFO if exc_type is None else logging.DEBUG
            log.log(level, "shutdown: %s (%.2f s)", self._stopped, time.monotonic() - began)


@contextlib.asynccontextmanager
async def embedded_database(settings: Settings) -> AsyncIterator[str]:
    """The embedded server in DATA_DIR, started for the duration; yields its owner URL."""
    embedded: EmbeddedPostgres = await asyncio.to_thread(start_embedded, settings.data_dir)
    try:
        yield embedded.owner_url
    finally:
        await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def owner_database(settings: Settings) -> AsyncIterator[str]:
    """The owner URL: DATABASE_URL, or the embedded server started for the duration."""
    if settings.database_url:
        yield settings.database_url
        return
    async with embedded_database(settings) as owner_url:
        yield owner_url


@contextlib.asynccontextmanager
async def local_sandbox(settings: Settings) -> AsyncIterator[RunningSandbox]:
    """A local fake Telegram for the bot (no BOT_TOKEN)."""
    async with run_sandbox(
        local_bot_token(settings.data_dir),
        settings.sandbox_host,
        settings.sandbox_port,
        webapp_url=settings.webapp_url,
        users_file=settings.data_dir / "sandbox_users.json",
        signing_key=load_signing_key(settings.data_dir / KEY_FILE),
        state_dir=settings.data_dir / "sandbox",
    ) as sandbox:
        yield sandbox
        log.info("shutdown: stopping the local Telegram")


@contextlib.asynccontextmanager
async def database_pool(db: Database) -> AsyncIterator[Database]:
    try:
        yield db
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def identity_cache(identity: IdentityCache) -> AsyncIterator[IdentityCache]:
    """Its listener: without it the cache is never trusted and every request reads."""
    await identity.start()
    try:
        yield identity
    finally:
        await identity.close()


@contextlib.asynccontextmanager
async def transfer_batcher(sender: SendBatcher) -> AsyncIterator[SendBatcher]:
    try:
        yield sender
    finally:
        await sender.close()


@contextlib.asynccontextmanager
async def bot_session(bot: Bot) -> AsyncIterator[Bot]:
    try:
        yield bot
    finally:
        await bot.session.close()


@contextlib.asynccontextmanager
async def outbox_delivery(
    services: Services, bot: Bot, rate_per_second: int, grace: Grace
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    delivery = OutboxDelivery(services.db, BotMessageSender(bot), services.catalog, rate_per_second)
    task = asyncio.create_task(delivery.run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        await finish_within([task], grace.deadline, "outbox delivery")


@contextlib.asynccontextmanager
async def provider_clients(services: Services) -> AsyncIterator[None]:
    """The AI providers' HTTP clients, used by the API (cancel) and the workers."""
    try:
        yield
    finally:
        await services.generation.close()


@contextlib.asynccontextmanager
async def generation_worker(
    services: Services, config: WorkerConfig, grace: Grace, bot: Bot | None
) -> AsyncIterator[None]:
    """AI jobs: any number of these run on one database (SKIP LOCKED and leases)."""
    stop = asyncio.Event()
    gen = services.generation
    delivery = BotChatDelivery(bot, services.catalog, gen) if bot is not None else None
    referrals = services.purchases.config.referrals
    worker = Worker(gen.db, gen.models, gen.providers, gen.media, config, delivery, referrals)
    task = asyncio.create_task(worker.run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        await finish_within([task], grace.deadline, "generation worker")


@contextlib.asynccontextmanager
async def bot_updates(
    dispatcher: Dispatcher, grace: Grace, webhook: SimpleRequestHandler | None = None
) -> AsyncIterator[None]:
    """Stops after polling and the HTTP server: the updates they handed over get the grace."""
    try:
        yield
    finally:
        # aiogram handles each update, polled or posted to the webhook, in a task of its own
        # and does not wait for them when it stops; it keeps them in these sets.
        tasks = set(getattr(dispatcher, "_handle_update_tasks", ()))
        if webhook is not None:
            tasks |= set(getattr(webhook, "_background_feed_update_tasks", ()))
        await finish_within(tasks, grace.deadline, "bot updates")


@contextlib.asynccontextmanager
async def http_server(
    app: web.Application, host: str, port: int, grace: Grace
) -> AsyncIterator[web.AppRunner]:
    # On cleanup the listener closes at once; requests in flight get `grace`, then are cancelled.
    runner = make_runner(app, shutdown_timeout=grace.seconds, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("HTTP server on http://%s:%s (API under /api/v1)", host, port)
        yield runner
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def realtime_listener(realtime: Realtime, db: Database) -> AsyncIterator[Realtime]:
    """The LISTEN connection feeding this process's WebSockets, and its presence heartbeat.
    Started before the HTTP server, so it stops after it: the sockets are closed with "going
    away" first."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(realtime.listener.run(stop)),
        asyncio.create_task(presence_heartbeat(realtime, db, stop)),
    ]
    if realtime.wakeups is not None:
        tasks.append(asyncio.create_task(realtime.wakeups.relay(realtime.listener.wake, stop)))
    try:
        yield realtime
    finally:
        stop.set()
        realtime.hub.close_all()
        await finish_within(tasks, time.monotonic() + _CANCELLED_SECONDS, "realtime listener")
        if realtime.wakeups is not None:
            await realtime.wakeups.close()
        with contextlib.suppress(Exception):
            await realtime.presence.refresh(db, {})  # this instance's sockets are gone


@contextlib.asynccontextmanager
async def scheduler(
    services: Services,
    hold_expiry_seconds: int,
    referral_seconds: int = 60,
    market_expiry_seconds: int = 60,
    webhook_receipt_seconds: int = 72 * 3600,
) -> AsyncIterator[None]:
    jobs = AsyncIOScheduler(timezone="UTC")
    jobs.add_job(
        purge_delivered, "interval", hours=1, args=[services.db], id="outbox_purge", coalesce=True
    )
    # Any number of instances may run it at once: each deletes what is old, none twice.
    retention = services.realtime.retention_seconds
    jobs.add_job(
        purge_events,
        "interval",
        seconds=max(1.0, min(60.0, retention / 10)),
        args=[services.db, retention],
        id="realtime_purge",
        coalesce=True,
        max_instances=1,
    )
    # Any number of instances: each batch locks its announcement (SKIP LOCKED) and moves its
    # cursor in the batch's transaction.
    jobs.add_job(
        fan_out,
        "interval",
        seconds=2,
        args=[services.db],
        id="announcements",
        coalesce=True,
        max_instances=1,
    )
    # Every instance schedules it; the advisory lock inside lets one of them do the work.
    jobs.add_job(
        expire_holds,
        "interval",
        seconds=hold_expiry_seconds,
        args=[services.db],
        id="hold_expiry",
        coalesce=True,
        max_instances=1,
    )
    # Referral rewards due, referrers' notices (one per minute each), farm scan: see
    # services/referrals/tasks.py for why any number of instances may run them.
    rules = services.purchases.config.referrals.fraud
    for job, args in (
        (post_due_rewards, [services.db]),
        (send_reward_notices, [services.db]),
        (look_for_fraud, [services.db, rules]),
    ):
        jobs.add_job(
            job,
            "interval",
            seconds=referral_seconds,
            args=args,
            id=f"referrals_{job.__name__}",
            coalesce=True,
            max_instances=1,
        )
    # Every instance schedules it; the lease on tokens.stars_sync lets one read at a time.
    jobs.add_job(
        reconcile_stars,
        "interval",
        seconds=60,
        args=[services.purchases],
        id="stars_reconciliation",
        coalesce=True,
        max_instances=1,
    )
    # Every instance runs them; each locks the rows it resolves and skips the others' (SKIP LOCKED).
    for cleanup, job_id in ((expire_gifts, "gift_expiry"), (close_expired_promos, "promo_expiry")):
        jobs.add_job(
            cleanup,
            "interval",
            seconds=60,
            args=[services.db],
            id=job_id,
            coalesce=True,
            max_instances=1,
        )
    # Every instance schedules it; SKIP LOCKED inside gives each due offer to one of them.
    jobs.add_job(
        expire_offers,
        "interval",
        seconds=market_expiry_seconds,
        args=[services.db],
        id="market_expiry",
        coalesce=True,
        max_instances=1,
    )
    # Every instance schedules it; a try-lock per batch keeps one at it (generation/tasks.py).
    jobs.add_job(
        purge_webhook_receipts,
        "interval",
        minutes=10,
        args=[services.db, webhook_receipt_seconds],
        id="ai_webhook_receipts_purge",
        coalesce=True,
        max_instances=1,
    )
    # Every instance schedules it; a try-lock per batch keeps one at it (db/purge.py).
    jobs.add_job(
        purge_keys,
        "interval",
        hours=1,
        args=[services.db],
        id="idempotency_purge",
        coalesce=True,
        max_instances=1,
    )
    jobs.start()
    try:
        yield
    finally:
        # A job under way is cancelled: its transaction rolls back, the next run redoes it.
        jobs.shutdown(wait=False)


async def set_menu(bot: Bot, services: Services, commands: Sequence[str]) -> None:
    try:
        await set_command_menu(bot, services.catalog, menu(commands))
    except (TelegramNetworkError, TelegramAPIError) as exc:
        log.warning("could not set the command menu yet: %s", exc)


@contextlib.asynccontextmanager
async def bot_polling(dispatcher: Dispatcher, bot: Bot, api_base: str) -> AsyncIterator[None]:
    await bot.delete_webhook(drop_pending_updates=False)
    log.info("bot receives updates by long polling from %s", api_base)
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
    )
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):  # polling already ended
            await dispatcher.stop_polling()
        await polling


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
