"""A worker process killed with SIGKILL in the middle of a job: after a restart the job
completes from its recorded state, is billed once, and the ledger's invariants hold.

Also killed inside the crash window (the provider has the job, we have not recorded its id):
a provider that can be asked by our reference (local) is asked and its job followed; one that
cannot (BFL) is never submitted to again: the attempt is `unknown` and the next provider makes
the job, still billed once (services/generation/worker.py, "the crash window")."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import text

from db.database import Database
from integrations.ai.bfl import BflProvider
from integrations.ai.local import LocalProvider
from services.generation.providers import Provider
from services.ledger.service import system_account
from tests.generation_helpers import PRICE, generation
from tests.generation_worker_process import BFL_KEY
from tests.integration.test_generation_providers import FakeBfl, bfl
from tests.invariants import assert_invariants
from tests.ledger_helpers import account, available, fund, make_user

ROOT = Path(__file__).resolve().parents[2]


async def start(
    owner_url: str, media: Path, seconds: float, *options: str
) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.generation_worker_process",
        owner_url,
        str(media),
        str(seconds),
        *options,
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


__all__ = ["bfl"]


async def killed_after_submit(owner_url: str, media: Path, *options: str) -> None:
    """Start a worker that stalls right after its submit went out, and kill it there."""
    process = await start(owner_url, media, 0.2, *options, "stall")
    assert process.stdout is not None
    assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"submitted"
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()


async def submit_state(db: Database) -> tuple[str | None, str | None, str | None]:
    async with db.service() as session:
        row = (
            await session.execute(
                text("SELECT submit_provider, submit_ref, provider_job_id FROM ai.jobs")
            )
        ).one()
    return row.submit_provider, row.submit_ref, row.provider_job_id


async def finish(db: Database, owner_url: str, media: Path, *options: str) -> None:
    process = await start(owner_url, media, 0.2, *options)
    try:

        async def succeeded() -> bool:
            return (await state(db))[0] == "succeeded"

        await wait_for(db, succeeded)
    finally:
        process.kill()
        await process.wait()


async def billed_once(db: Database, owner_url: str, user_id: object) -> None:
    assert await available(db, user_id) == 9 * PRICE  # type: ignore[arg-type]
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == PRICE
    await assert_invariants(owner_url)


async def attempts(db: Database) -> list[tuple[str, str]]:
    async with db.service() as session:
        rows = await session.execute(text("SELECT provider, outcome FROM ai.attempts ORDER BY id"))
        return [(r.provider, r.outcome) for r in rows]


async def test_killed_between_submit_and_record_a_findable_submit_is_followed(
    db: Database, owner_url: str, tmp_path: Path
) -> None:
    gen = generation(db, tmp_path)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="k", model="pic", prompt="a window")
    await killed_after_submit(owner_url, tmp_path)
    provider, reference, pid = await submit_state(db)
    assert (provider, reference, pid) == ("local", f"{job.id}-0", None)
    assert (await state(db))[0] == "queued"

    await finish(db, owner_url, tmp_path)
    # Asked by its reference and found: the same job, not a second one.
    assert (await submit_state(db)) == (None, None, f"local-{job.id}-0")
    assert await attempts(db) == [("local", "succeeded")]
    await billed_once(db, owner_url, ann.id)


async def test_killed_between_submit_and_record_a_provider_that_cannot_tell_is_not_resubmitted(
    db: Database, owner_url: str, tmp_path: Path, bfl: FakeBfl
) -> None:
    providers: dict[str, Provider] = {
        "bfl": BflProvider(bfl.base, BFL_KEY),
        "local": LocalProvider(0.0),
    }
    gen = generation(db, tmp_path, providers=providers, order=("bfl", "local"))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="k", model="pic", prompt="a window")
    await killed_after_submit(owner_url, tmp_path, f"bfl={bfl.base}")
    assert bfl.calls == ["submit"]
    assert (await submit_state(db)) == ("bfl", f"{job.id}-0", None)

    await finish(db, owner_url, tmp_path, f"bfl={bfl.base}")
    assert bfl.calls == ["submit"]  # never twice without knowing what became of the first
    assert await attempts(db) == [("bfl", "unknown"), ("local", "succeeded")]
    async with db.service() as session:
        cost = await session.scalar(text("SELECT cost FROM ai.attempts WHERE outcome = 'unknown'"))
    assert cost == 40_000  # we may have been billed for it: counted as the estimate
    data, mime = await gen.media_of(ann.id, job.id, 0)
    assert mime == "image/png" and data[:4] == b"\x89PNG"
    await billed_once(db, owner_url, ann.id)
