"""The worker against what goes wrong around it: a provider answering what its adapter cannot
read, a provider configured away, Telegram busy (429, 5xx), and one slow provider among
many jobs. Each paid job ends once, posted or refunded, and a result reaches its chat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiogram import Bot
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from db.database import Database
from integrations.ai.bfl import BflProvider
from integrations.ai.local import LocalProvider
from integrations.telegram.generation import BotChatDelivery
from sandbox.botapi import BotApiServer, InjectedFailure
from services.generation.catalog import build_catalog
from services.generation.media import MediaStore
from services.generation.providers import Handle, JobStatus
from services.generation.service import Quotas
from services.generation.usecase import Generation
from services.generation.worker import Worker
from services.i18n import Catalog
from tests.generation_helpers import PRICE, drain, generation, worker
from tests.invariants import assert_invariants
from tests.ledger_helpers import available, fund, make_user
from tests.telegram import bot, botapi  # noqa: F401


async def job_row(db: Database, job_id: UUID) -> Any:
    async with db.service() as session:
        return (
            await session.execute(
                text(
                    "SELECT status, error_code, progress, tries, delivered_at,"
                    " extract(epoch FROM next_step_at - now()) AS wait"
                    " FROM ai.jobs WHERE id = :id"
                ),
                {"id": job_id},
            )
        ).one()


async def make_due(db: Database, job_id: UUID, *, age: str | None = None) -> None:
    """The job's next step due now; `age`: as if it had started that long ago."""
    since = "started_at" if age is None else f"now() - interval '{age}'"
    async with db.service() as session:
        await session.execute(
            text(
                f"UPDATE ai.jobs SET next_step_at = now(), lease_until = NULL,"
                f" started_at = {since}, created_at = least(created_at, {since})"
                " WHERE id = :id"
            ),
            {"id": job_id},
        )


# --- a provider answer the adapter cannot read -----------------------------------------------


class Broken(LocalProvider):
    """Accepts jobs, then fails reading them with an error no adapter should raise."""

    async def status(self, handle: Handle) -> JobStatus:
        raise ValueError("could not convert string to float: '50%'")


async def test_an_unexpected_status_error_uses_up_attempts_and_refunds(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path, providers={"local": Broken(0.0)})
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="odd", model="pic", prompt="fox")
    await drain(worker(gen, max_tries=3))
    row = await job_row(db, job.id)
    assert (row.status, row.error_code, row.tries) == ("failed", "provider_error", 2)
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)


async def test_a_job_past_its_deadline_is_refunded_whatever_the_provider_does(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path, providers={"local": Broken(0.0)})
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="late", model="pic", prompt="fox")
    w = worker(gen)
    await w.run_once()  # submitted
    await make_due(db, job.id, age="1 hour")
    await w.run_once()
    row = await job_row(db, job.id)
    assert (row.status, row.error_code) == ("failed", "timeout")
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)


@pytest.fixture
async def bfl_progress() -> AsyncIterator[Callable[[object], Awaitable[BflProvider]]]:
    """A BFL server whose pending job reports the given `progress`."""
    servers: list[TestServer] = []
    clients: list[BflProvider] = []

    async def start(progress: object) -> BflProvider:
        async def submit(request: web.Request) -> web.Response:
            url = str(server.make_url("/v1/get_result?id=b1"))
            return web.json_response({"id": "b1", "polling_url": url})

        async def result(request: web.Request) -> web.Response:
            return web.json_response({"id": "b1", "status": "Pending", "progress": progress})

        app = web.Application()
        app.router.add_post("/v1/flux-pro-1.1", submit)
        app.router.add_get("/v1/get_result", result)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        clients.append(BflProvider(str(server.make_url("")).rstrip("/"), "k", poll_seconds=0.01))
        return clients[-1]

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.close()


@pytest.mark.parametrize(
    ("reported", "shown"),
    [("50%", 50), (0.5, 50), ("37", 37), ("soon", 0), ([1], 0), (True, 0), ("nan", 0)],
)
async def test_bfl_progress_is_read_leniently(
    bfl_progress: Callable[[object], Awaitable[BflProvider]],
    reported: object,
    shown: int,
    db: Database,
    tmp_path: Path,
) -> None:
    bfl = await bfl_progress(reported)
    gen = generation(db, tmp_path, providers={"bfl": bfl}, order=("bfl",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="p", model="pic", prompt="fox")
    w = worker(gen)
    await w.run_once()  # submitted
    await make_due(db, job.id)
    await w.run_once()
    row = await job_row(db, job.id)
    assert (row.status, row.progress, row.tries) == ("running", shown, 0)


# --- a provider configured away ----------------------------------------------------------------


async def test_a_job_whose_provider_is_gone_waits_then_is_refunded_at_its_deadline(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="gone", model="pic", prompt="fox")
    async with db.service() as session:
        await session.execute(
            text(
                "UPDATE ai.jobs SET provider = 'bfl', provider_job_id = 'b1', status = 'running',"
                " started_at = now() WHERE id = :id"
            ),
            {"id": job.id},
        )
    w = worker(gen)
    await make_due(db, job.id)
    await w.run_once()
    waiting = await job_row(db, job.id)
    # A deploy that briefly drops a provider's key does not kill its jobs.
    assert (waiting.status, waiting.tries) == ("running", 0) and waiting.wait > 0
    assert await available(db, ann.id) == 9 * PRICE
    await make_due(db, job.id, age="1 day")
    await w.run_once()
    row = await job_row(db, job.id)
    assert (row.status, row.error_code) == ("failed", "timeout")
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)


# --- Telegram busy at delivery ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "retry_after"),
    [
        (InjectedFailure("sendPhoto", 429, "Too Many Requests: retry after 30", 555, 30), 30),
        (InjectedFailure("sendPhoto", 502, "Bad Gateway", 555), None),
    ],
    ids=["429", "502"],
)
async def test_a_result_is_delivered_after_telegram_was_busy(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner_url: str,
    tmp_path: Path,
    failure: InjectedFailure,
    retry_after: int | None,
) -> None:
    api, _ = botapi
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(
        user_id=ann.id, request_key="busy", model="pic", prompt="fox", chat_id=555
    )
    api.failures.append(failure)
    w = worker(gen)
    w.delivery = BotChatDelivery(bot, catalog, gen)
    await drain(w)
    held = await job_row(db, job.id)
    assert held.status == "succeeded" and held.delivered_at is None
    if retry_after is not None:
        assert retry_after - 5 < held.wait <= retry_after
    await make_due(db, job.id)
    await drain(w)
    assert (await job_row(db, job.id)).delivered_at is not None
    assert len(api.calls_of("sendPhoto")) == 2
    assert await available(db, ann.id) == 9 * PRICE
    await assert_invariants(owner_url)


async def test_a_chat_that_refuses_the_result_is_not_tried_again(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    tmp_path: Path,
) -> None:
    api, _ = botapi
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(
        user_id=ann.id, request_key="no", model="pic", prompt="fox", chat_id=556
    )
    api.fail_blocked("sendPhoto", 556)
    w = worker(gen)
    w.delivery = BotChatDelivery(bot, catalog, gen)
    await drain(w)
    assert (await job_row(db, job.id)).delivered_at is not None
    assert len(api.calls_of("sendPhoto")) == 1


# --- one slow provider among many jobs ------------------------------------------------------------


class Gate(LocalProvider):
    """Its status calls wait until the test opens the gate."""

    name = "gate"

    def __init__(self) -> None:
        super().__init__(0.0)
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def status(self, handle: Handle) -> JobStatus:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.entered.set()
        try:
            await self.opened.wait()
        finally:
            self.in_flight -= 1
        return await super().status(handle)


def two_models(db: Database, tmp_path: Path, gate: Gate) -> Generation:
    terms = {"price": PRICE, "cost": 40_000, "concurrency": 10}
    return Generation(
        db=db,
        models=build_catalog(
            [
                {"id": "slow", "kind": "image", "title": "Slow", "providers": ["gate"], **terms},
                {"id": "pic", "kind": "image", "title": "Picture", "providers": ["local"], **terms},
            ]
        ),
        quotas=Quotas(daily_per_kind=1000, concurrent=1000),
        providers={"local": LocalProvider(0.0), "gate": gate},
        media=MediaStore(tmp_path),
    )


@contextlib.asynccontextmanager
async def started(w: Worker, stop: asyncio.Event) -> AsyncIterator[asyncio.Task[None]]:
    """The worker's loop, cancelled if a failing test leaves it running."""
    task = asyncio.create_task(w.run_forever(stop))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(check: Callable[[], Awaitable[bool]]) -> None:
    # A guard against hanging, not a measure: the order of events is what is asserted.
    async with asyncio.timeout(30):
        while not await check():
            await asyncio.sleep(0.02)


async def test_a_slow_provider_holds_up_only_its_own_job(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gate = Gate()
    gen = two_models(db, tmp_path, gate)
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    await fund(db, bob.id, 10 * PRICE)
    slow, _ = await gen.order(user_id=ann.id, request_key="a", model="slow", prompt="x")
    stop = asyncio.Event()
    async with started(worker(gen), stop) as running:
        async with asyncio.timeout(30):
            await gate.entered.wait()
        quick, _ = await gen.order(user_id=bob.id, request_key="b", model="pic", prompt="y")

        async def quick_done() -> bool:
            return (await gen.get(bob.id, quick.id)).status == "succeeded"

        await wait_for(quick_done)
        assert gate.in_flight == 1  # Ann's status call is still waiting at the gate
        assert (await gen.get(ann.id, slow.id)).status == "running"
        gate.opened.set()

        async def slow_done() -> bool:
            return (await gen.get(ann.id, slow.id)).status == "succeeded"

        await wait_for(slow_done)
        stop.set()
        await running
    assert gate.most_in_flight == 1
    assert await available(db, ann.id) == await available(db, bob.id) == 9 * PRICE
    await assert_invariants(owner_url)


async def test_a_stop_lets_the_steps_in_flight_finish(db: Database, tmp_path: Path) -> None:
    gate = Gate()
    gen = two_models(db, tmp_path, gate)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="slow", prompt="x")
    stop = asyncio.Event()
    # A lease shorter than the step: the worker claims the job again and must not step it twice.
    async with started(worker(gen, lease_seconds=0.05), stop) as running:
        async with asyncio.timeout(30):
            await gate.entered.wait()
        await asyncio.sleep(0.3)  # the lease has run out many times over
        assert gate.most_in_flight == 1
        stop.set()
        await asyncio.sleep(0.1)
        assert not running.done()
        gate.opened.set()
        async with asyncio.timeout(30):
            await running
    assert (await gen.get(ann.id, job.id)).status == "succeeded"


async def test_a_cancelled_worker_cancels_its_steps(db: Database, tmp_path: Path) -> None:
    gate = Gate()
    gen = two_models(db, tmp_path, gate)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="slow", prompt="x")
    async with started(worker(gen), asyncio.Event()) as running:
        async with asyncio.timeout(30):
            await gate.entered.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert gate.in_flight == 0
    assert (await gen.get(ann.id, job.id)).status == "running"  # the next worker follows it
