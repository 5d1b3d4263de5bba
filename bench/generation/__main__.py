"""Generation jobs per second, from order to stored result, against the ledger's hold+post
rate measured in the same run on the same database.

    python -m bench.generation [--seconds 5] [--clients 8] [--workers 2] [--rounds 3]

The provider is instant and in-process (it answers `succeeded` with a few bytes at the first
status read), so what is measured is the platform: the order's transaction (quota lock,
budget row, hold, job row, event), the worker's claim, submit record, status step, the
result file and the posting transaction. Each round runs the baseline (clients looping hold
then post through `tokens.create_transfers`) and then the pipeline; the ratio is per round
and their median. Statements per job are counted on the app's engines.

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner URL) is set.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from bench.database import bench_server, scratch_database
from db.database import Database, create_database
from db.urls import app_url_from_owner
from services.generation.catalog import build_catalog
from services.generation.media import MediaStore
from services.generation.providers import (
    Handle,
    JobRequest,
    JobStatus,
    Output,
    WebhookEvent,
    WebhookRejected,
)
from services.generation.service import Quotas
from services.generation.usecase import Generation
from services.generation.worker import Worker, WorkerConfig
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import create_transfers, system_account, user_account
from tests.ledger_helpers import fund, make_user

PRICE = 1_000
# The bench's own progress check runs on the same engines: a few of the statements per job
# counted are these reads.
_SUCCEEDED = text("SELECT count(*) FROM ai.jobs WHERE status = 'succeeded'")


class InstantProvider:
    name = "instant"
    webhooks = False
    poll_seconds = 0.0

    async def submit(self, request: JobRequest) -> Handle:
        return Handle(id=f"instant-{request.job_id}")

    async def status(self, handle: Handle) -> JobStatus:
        return JobStatus(state="succeeded", progress=100, outputs=(Output("image/png", data=b"x"),))

    async def cancel(self, handle: Handle) -> None:
        return None

    async def download(self, output: Output) -> bytes:
        return output.data or b""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookRejected("none")


def count_statements(db: Database) -> list[int]:
    counter = [0]

    def seen(*_: Any) -> None:
        counter[0] += 1

    for engine in (db.engine, db.statement_engine, db.user_engine):
        if engine is not None:
            event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return counter


async def baseline(db: Database, users: list[uuid.UUID], seconds: float) -> float:
    """Hold then post, each client its own user: pairs per second."""
    done = 0
    stop = time.monotonic() + seconds

    async def client(user: uuid.UUID) -> None:
        nonlocal done
        while time.monotonic() < stop:
            hold = uuid.uuid4()
            async with db.service() as session:
                await create_transfers(
                    session,
                    [
                        Transfer(
                            id=hold,
                            kind="pending",
                            debit=user_account(user),
                            credit=system_account("ai_spend"),
                            asset="VIBE",
                            amount=PRICE,
                            code="bench",
                        )
                    ],
                )
            async with db.service() as session:
                await create_transfers(
                    session, [ResolveHold(id=uuid.uuid4(), pending_id=hold, kind="post")]
                )
            done += 1

    began = time.monotonic()
    await asyncio.gather(*(client(u) for u in users))
    return done / (time.monotonic() - began)


async def pipeline(
    gen: Generation, users: list[uuid.UUID], workers: int, seconds: float, statements: list[int]
) -> tuple[float, float]:
    """Jobs ordered and finished per second, and statements per job."""
    async with gen.db.service() as session:
        before = int(
            await session.scalar(text("SELECT count(*) FROM ai.jobs WHERE status = 'succeeded'"))
        )
    start_statements = statements[0]
    stop_ordering = time.monotonic() + seconds
    stop = asyncio.Event()
    config = WorkerConfig(batch=16, idle_seconds=0.01)
    pool = [Worker(gen.db, gen.models, gen.providers, gen.media, config) for _ in range(workers)]
    tasks = [asyncio.create_task(w.run_forever(stop)) for w in pool]
    ordered = 0

    async def client(user: uuid.UUID) -> None:
        nonlocal ordered
        while time.monotonic() < stop_ordering:
            await gen.order(user_id=user, request_key=uuid.uuid4().hex, model="pic", prompt="bench")
            ordered += 1

    began = time.monotonic()
    await asyncio.gather(*(client(u) for u in users))
    while True:  # until every ordered job is finished
        async with gen.db.service() as session:
            finished = int(
                await session.scalar(
                    text("SELECT count(*) FROM ai.jobs WHERE status = 'succeeded'")
                )
            )
        if finished - before >= ordered:
            break
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - began
    stop.set()
    await asyncio.gather(*tasks)
    return ordered / elapsed, (statements[0] - start_statements) / max(1, ordered)


async def main(args: argparse.Namespace) -> None:
    async with bench_server() as server, scratch_database(server) as owner_url:
        db = create_database(app_url_from_owner(owner_url), pool_size=args.clients + 8)
        statements = count_statements(db)
        users = [(await make_user(db)).id for _ in range(args.clients)]
        for user in users:
            await fund(db, user, 10**15)
        gen = Generation(
            db=db,
            models=build_catalog(
                [
                    {
                        "id": "pic",
                        "kind": "image",
                        "title": "Bench",
                        "providers": ["instant"],
                        "price": PRICE,
                        "cost": 1,
                        "concurrency": 100,
                    }
                ]
            ),
            quotas=Quotas(daily_per_kind=10**9, concurrent=10**6, daily_budget=10**15),
            providers={"instant": InstantProvider()},
            media=MediaStore(Path(tempfile.mkdtemp(prefix="gv-bench-media-"))),
        )
        ratios = []
        for n in range(args.rounds):
            base = await baseline(db, users, args.seconds)
            jobs, per_job = await pipeline(gen, users, args.workers, args.seconds, statements)
            ratios.append(jobs / base)
            print(
                f"round {n + 1}: ledger hold+post {base:8.1f}/s | generation jobs {jobs:8.1f}/s"
                f" | {per_job:5.1f} statements/job | ratio {jobs / base:.2f}"
            )
        print(f"median ratio (goal >= 0.3): {statistics.median(ratios):.2f}")
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
