"""Two `python -m bot --role worker` processes deliver one outbox to one Bot API server.

What is asserted is the schedule Telegram would see (the sandbox's receive times), not how
fast we are: every message exactly once, a second or more between two messages to one chat
whichever process sent them, and no more than the overall rate in any second.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from db.database import Database
from sandbox.botapi import BotApiServer
from tests.telegram import TOKEN

ROOT = Path(__file__).resolve().parents[2]
RATE = 30
BUSY_CHAT, BUSY_COUNT = 1, 12
SOME_CHATS, SOME_COUNT = list(range(100, 140)), 4
MANY_CHATS = list(range(1000, 1300))


@dataclass
class TimedBotApi(BotApiServer):
    """The sandbox, noting when each sendMessage arrived."""

    received: list[tuple[float, int, str]] = field(default_factory=list)

    async def api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        self.received.append((time.monotonic(), int(params["chat_id"]), str(params["text"])))
        return await super().api_sendmessage(params)


@pytest.fixture
async def timed_api() -> AsyncIterator[tuple[TimedBotApi, str]]:
    api = TimedBotApi(TOKEN)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    yield api, str(server.make_url("")).rstrip("/")
    await server.close()


async def _queue(db: Database, chat_ids: list[int], per_chat: int) -> None:
    async with db.service() as session:
        await session.execute(
            text(
                """
                INSERT INTO ops.outbox (chat_id, template, params, created_at)
                SELECT c, 'notify.test', jsonb_build_object('text', c || '-' || n),
                       clock_timestamp() + n * interval '1 microsecond'
                FROM unnest(CAST(:chats AS bigint[])) AS c, generate_series(1, :n) AS n
                """
            ),
            {"chats": chat_ids, "n": per_chat},
        )


def _worker(owner_url: str, api_base: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"BOT_TOKEN", "DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DATABASE_URL=owner_url,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=api_base,
        NOTIFY_RATE_PER_SECOND=str(RATE),
        DATA_DIR=str(log.parent / "data"),
        LOG_LEVEL="DEBUG",
        PYTHONPATH=str(ROOT),
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "--role", "worker"],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _busiest_second(times: list[float]) -> int:
    """The most sends in any one-second window [t, t + 1) starting at a send."""
    times = sorted(times)
    best, end = 0, 0
    for start, at in enumerate(times):
        while end < len(times) and times[end] < at + 1.0:
            end += 1
        best = max(best, end - start)
    return best


async def test_two_worker_processes_send_each_message_once_within_the_limits(
    db: Database, owner_url: str, timed_api: tuple[TimedBotApi, str], tmp_path: Path
) -> None:
    api, base = timed_api
    await _queue(db, [BUSY_CHAT], BUSY_COUNT)
    await _queue(db, SOME_CHATS, SOME_COUNT)
    await _queue(db, MANY_CHATS, 1)
    total = BUSY_COUNT + len(SOME_CHATS) * SOME_COUNT + len(MANY_CHATS)
    logs = [tmp_path / f"worker{n}" / "log" for n in (1, 2)]
    for log in logs:
        log.parent.mkdir()
    workers = [_worker(owner_url, base, log) for log in logs]
    try:
        for _ in range(3000):  # a guard against a hang, not a measure of speed
            if len(api.received) >= total or any(w.poll() is not None for w in workers):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # room for a late duplicate to show up
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(w.wait, 60) for w in workers]
    outputs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], outputs

    copies = Counter(message for _, _, message in api.received)
    assert len(copies) == total and set(copies.values()) == {1}, copies.most_common(3)
    # Both processes took part.
    assert all("claimed" in output for output in outputs)

    gaps = _gaps(api.received)
    assert len(gaps) == (BUSY_COUNT - 1) + len(SOME_CHATS) * (SOME_COUNT - 1)
    assert min(gaps) >= 1.0, sorted(gaps)[:5]
    times = sorted(at for at, _, _ in api.received)
    # Slots are 1/RATE s apart and a send never goes before its slot, so the average holds
    # RATE exactly; two processes each keeping 30/s to themselves would average up to 60. A
    # send late for its slot (the first connections, a loaded machine) can share a second
    # with the next ones on time: 32-34 at 30/s on a quiet machine, 38 under a loaded CI run.
    average = (len(times) - 1) / (times[-1] - times[0])
    busiest = _busiest_second(times)
    assert average <= RATE and busiest <= RATE * 1.5, (average, busiest)
    busy = [message for _, chat, message in api.received if chat == BUSY_CHAT]
    assert busy == [f"{BUSY_CHAT}-{n}" for n in range(1, BUSY_COUNT + 1)]
    async with db.service() as session:
        rows = await session.execute(text("SELECT status, count(*) FROM ops.outbox GROUP BY 1"))
        statuses = {status: count for status, count in rows.all()}
    assert statuses == {"sent": total}
    print(
        f"2 processes, {total} messages, 0 duplicates, min per-chat gap {min(gaps):.3f} s,"
        f" {average:.1f}/s on average, busiest second {busiest} sends"
    )


async def _settled(db: Database) -> bool:
    async with db.service() as session:
        waiting = await session.scalar(
            text("SELECT count(*) FROM ops.outbox WHERE status IN ('pending', 'sending')")
        )
    return waiting == 0


def _gaps(received: list[tuple[float, int, str]]) -> list[float]:
    by_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat, _ in received:
        by_chat[chat].append(at)
    return [b - a for times in by_chat.values() for a, b in pairwise(times)]


async def test_a_worker_killed_mid_send_leaves_its_messages_to_the_other(
    db: Database, owner_url: str, timed_api: tuple[TimedBotApi, str], tmp_path: Path
) -> None:
    api, base = timed_api
    await _queue(db, SOME_CHATS[:20], 3)
    await _queue(db, MANY_CHATS[:200], 1)
    expected = {f"{c}-{n}" for c in SOME_CHATS[:20] for n in (1, 2, 3)}
    expected |= {f"{c}-1" for c in MANY_CHATS[:200]}
    logs = [tmp_path / f"worker{n}" / "log" for n in (1, 2)]
    for log in logs:
        log.parent.mkdir()
    doomed, survivor = (_worker(owner_url, base, log) for log in logs)
    try:
        for _ in range(3000):  # guards against a hang, not measures of speed
            if len(api.received) >= 60 or survivor.poll() is not None:
                break
            await asyncio.sleep(0.1)
        doomed.kill()  # mid-run: it holds claims, some sent and not yet recorded
        await asyncio.to_thread(doomed.wait, 60)
        # The killed worker's leases must run out before the survivor can record what it
        # had sent and not yet recorded: wait for every row to be settled, not only seen.
        for _ in range(3000):
            seen = {message for _, _, message in api.received}
            if (seen >= expected and await _settled(db)) or survivor.poll() is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
    finally:
        for worker in (doomed, survivor):
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(survivor.wait, 60)
    assert code == 0, logs[1].read_text(errors="replace")
    copies = Counter(message for _, _, message in api.received)
    assert set(copies) == expected
    # Only what the killed worker had sent and not yet recorded can go twice.
    twice = sum(n - 1 for n in copies.values())
    assert twice <= RATE, copies.most_common(3)
    assert min(_gaps(api.received)) >= 1.0
    async with db.service() as session:
        rows = await session.execute(text("SELECT status, count(*) FROM ops.outbox GROUP BY 1"))
        statuses = {status: count for status, count in rows.all()}
    assert statuses == {"sent": len(expected)}
    print(f"killed one of 2 workers mid-run: {len(expected)} messages, {twice} sent twice")
