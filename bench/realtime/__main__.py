"""`python -m bench.realtime`: 1,000 WebSocket clients on one API instance, events/s delivered
and the latency from commit to client receive.

    python -m bench.realtime [--clients 1000] [--processes 4] [--rate 1000] [--seconds 10]
                             [--database-url postgresql://...] [--redis-url redis://...]

The platform (`python -m bot --role api`, sandbox on, limits raised) runs in its own process;
the clients in `--processes` processes beside it (bench/realtime/clients.py), each socket
signed in as its own user. This process then commits `--rate` events a second for
`--seconds`, each for one random connected user, each its own transaction, in each mode:
`poll` (a plain INSERT, as the ledger's trigger writes transfer and balance events: the
listener finds it at its next read, every `REALTIME_POLL_MS`), `notify` (INSERT +
`pg_notify`, as `services.realtime.service.publish` does: the listener wakes at once) and,
with `--redis-url` (the platform then runs with `REDIS_URL`), `redis` (a plain INSERT, then
a Redis PUBLISH after the commit, as the ledger's batcher does). The latency of an
event is the client's receive time minus the moment its COMMIT returned here (one machine,
one clock). Printed per mode: events produced, delivered, the ratio delivered / produced
(goal 1.0: nothing lost), events/s delivered, p50 / p99 / max latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.database import bench_server, scratch_database
from bench.http.servers import child_env, platform_token, the_platform
from db.database import create_database
from db.urls import app_url_from_owner, asyncpg_dsn
from services.realtime.schemas import NOTIFY_CHANNEL
from services.realtime.wakeups import RedisWakeups
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram

FIRST_TELEGRAM_ID = 8_000_000
_POLL = "INSERT INTO ops.events (user_id, channel, type, data) VALUES ($1, 'user', 'bench', '{}')"
_NOTIFY = (
    "WITH e AS (INSERT INTO ops.events (user_id, channel, type, data)"
    " VALUES ($1, 'user', 'bench', '{}') RETURNING id)"
    f" SELECT id, pg_notify('{NOTIFY_CHANNEL}', id::text) FROM e"
)
_RETURNING = _POLL + " RETURNING id"


async def _sign_up(owner_url: str, count: int) -> None:
    """The clients' users exist before they connect: what is measured is delivery, not a
    thousand sign-ups (each a welcome bonus) racing for the server's pool at once."""
    db = create_database(app_url_from_owner(owner_url), pool_size=4)
    try:
        for first in range(0, count, 100):
            async with db.service() as session:
                for n in range(first, min(count, first + 100)):
                    profile = TelegramProfile(telegram_id=FIRST_TELEGRAM_ID + n, first_name=f"B{n}")
                    await upsert_from_telegram(
                        session, profile, admin_ids=frozenset(), origin=Origin.miniapp()
                    )
    finally:
        await db.dispose()


async def _clients(
    base: str, token: str, count: int, processes: int
) -> list[asyncio.subprocess.Process]:
    share = [count // processes + (1 if n < count % processes else 0) for n in range(processes)]
    started: list[asyncio.subprocess.Process] = []
    first = FIRST_TELEGRAM_ID
    for n in share:
        started.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.realtime.clients",
                base,
                token,
                str(first),
                str(n),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=child_env(),
                limit=2**26,  # the results come back as one JSON line
            )
        )
        first += n
    for process in started:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 900)
        assert line.strip() == b"ready", line
    return started


async def _produce(
    pool: asyncpg.Pool,
    users: list[Any],
    rate: int,
    seconds: float,
    mode: str,
    wakeups: RedisWakeups | None = None,
) -> dict[int, float]:
    """Commits `rate` events a second; returns each id's commit time (unix seconds)."""
    committed: dict[int, float] = {}
    total = int(rate * seconds)
    start = time.monotonic()
    sql = _NOTIFY if mode == "notify" else _RETURNING

    async def one(user: Any) -> None:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(sql, user)
        committed[int(row[0])] = time.time()
        if wakeups is not None:
            wakeups.announce()  # after the commit, as the ledger's batcher does

    tasks: set[asyncio.Task[None]] = set()
    for n in range(total):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(random.choice(users)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return committed


async def _collect(processes: list[asyncio.subprocess.Process]) -> list[tuple[int, float]]:
    received: list[tuple[int, float]] = []
    for process in processes:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        received.extend((int(i), float(t)) for i, t in json.loads(line)["received"])
        await process.wait()
    return received


def _report(mode: str, committed: dict[int, float], received: list[tuple[int, float]]) -> None:
    mine = [(i, t) for i, t in received if i in committed]
    ids = [i for i, _ in mine]
    latencies = sorted((t - committed[i]) * 1000 for i, t in mine)
    span = max(t for _, t in mine) - min(committed.values()) if mine else 0.0
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    print(
        f"{mode:7} produced {len(committed):6}  delivered {len(set(ids)):6}"
        f"  duplicates {len(ids) - len(set(ids))}"
        f"  ratio {len(set(ids)) / max(1, len(committed)):.4f}"
        f"  {len(set(ids)) / span if span else 0:7.0f} events/s"
        f"  latency p50 {statistics.median(latencies):6.1f} ms  p99 {p99:6.1f} ms"
        f"  max {latencies[-1]:6.1f} ms",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--redis-url",
        default=None,
        help="also run the platform with REDIS_URL and measure a third mode, `redis`",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gv-bench-rt-"))
    if args.database_url:
        import os

        os.environ["BENCH_DATABASE_URL"] = args.database_url
    async with (
        bench_server() as server_url,
        scratch_database(server_url) as url,
        the_platform(
            url, workdir, role="api", **({"REDIS_URL": args.redis_url} if args.redis_url else {})
        ) as platform,
    ):
        token = platform_token(platform)
        base = platform.url("")
        await _sign_up(url, args.clients)
        modes = ("poll", "notify", "redis") if args.redis_url else ("poll", "notify")
        for mode in modes:
            wakeups = RedisWakeups(args.redis_url) if mode == "redis" and args.redis_url else None
            processes = await _clients(base, token, args.clients, args.processes)
            pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=8, max_size=8)
            try:
                users = [
                    r[0]
                    for r in await pool.fetch(
                        "SELECT id FROM auth.users WHERE telegram_id >= $1", FIRST_TELEGRAM_ID
                    )
                ]
                assert len(users) == args.clients, len(users)
                committed = await _produce(pool, users, args.rate, args.seconds, mode, wakeups)
                await asyncio.sleep(2)  # the last events' way to the clients
            finally:
                await pool.close()
                if wakeups is not None:
                    await wakeups.close()
            _report(mode, committed, await _collect(processes))


if __name__ == "__main__":
    asyncio.run(main())
