"""A worker process killed with SIGKILL in the middle of a job: after a restart the job
completes from its recorded state, is billed once, and the ledger's invariants hold."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import text

from db.database import Database
from services.ledger.service import system_account
from tests.generation_helpers import PRICE, generation
from tests.invariants import assert_invariants
from tests.ledger_helpers import account, available, fund, make_user

ROOT = Path(__file__).resolve().parents[2]


async def start(owner_url: str, media: Path, seconds: float) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.generation_worker_process",
        owner_url,
        str(media),
        str(seconds),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"ready"
    return process


async def state(db: Database) -> tuple[str, int, str | None]:
    async with db.service() as session:
        row = (
            await session.execute(text("SELECT status, progress, provider_job_id FROM ai.jobs"))
        ).one()
    return row.status, row.progress, row.provider_job_id


async def wait_for(db: Database, done: object, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await done():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached: {await state(db)}")


async def test_a_worker_killed_mid_job_resumes_it_and_bills_once(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="k", model="pic", prompt="a crash")
    first = await start(owner_url, tmp_path, 2.0)

    async def running() -> bool:
        status, progress, pid = await state(db)
        return status == "running" and pid is not None and progress > 0

    await wait_for(db, running)
    os.kill(first.pid, signal.SIGKILL)
    await first.wait()
    status, _, recorded = await state(db)
    assert status == "running"
    assert await available(db, ann.id) == 9 * PRICE  # still on hold

    second = await start(owner_url, tmp_path, 2.0)
    try:

        async def succeeded() -> bool:
            return (await state(db))[0] == "succeeded"

        await wait_for(db, succeeded)
    finally:
        second.kill()
        await second.wait()
    assert (await state(db))[2] == recorded  # followed, not submitted again
    data, mime = await gen.media_of(ann.id, job.id, 0)
    assert mime == "image/png" and data[:4] == b"\x89PNG"
    assert await available(db, ann.id) == 9 * PRICE
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == PRICE
    async with db.service() as session:
        posts = await session.scalar(
            text("SELECT count(*) FROM tokens.transfers WHERE pending_id = :h AND result = 'ok'"),
            {"h": (await session.scalar(text("SELECT hold_id FROM ai.jobs")))},
        )
    assert posts == 1
    await assert_invariants(owner_url)
