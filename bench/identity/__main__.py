"""What a user-scoped transaction costs: `db.user(id)` plus RLS-filtered reads.

    python -m bench.identity [--transactions 2000] [--statements 5000] [--clients 16]

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner/superuser URL) is set.
Figures: one client running `db.user(id)` + two reads through RLS (median and p90 µs per
transaction); one statement that only asks `auth.current_user_id()` (median µs, in one open
user transaction); user transactions per second from `--clients` concurrent clients; and,
free of the client's noise, the server's own time for an RLS-filtered read and for
`auth.current_user_id()` (a PL/pgSQL loop as `gv_user`, µs per statement).

Written against the public API only (`create_database`, `db.user`, `db.service`), so the
same file measures the code before and after a change to how identity is set.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import statistics
import time
from uuid import UUID

import asyncpg
from sqlalchemy import text

from bench.database import bench_server, scratch_database
from db.database import Database, create_database
from db.urls import app_url_from_owner, asyncpg_dsn
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram

USERS = 200
_OWN_ROW = text("SELECT language FROM auth.users WHERE id = :id")
_ALL_ROWS = text("SELECT count(*) FROM auth.users")
_WHO = text("SELECT auth.current_user_id()")


async def _users(db: Database) -> list[UUID]:
    ids = []
    for n in range(USERS):
        async with db.service() as session:
            result = await upsert_from_telegram(
                session,
                TelegramProfile(telegram_id=50_000 + n),
                admin_ids=frozenset(),
                origin=Origin.bot(),
            )
            ids.append(result.user.id)
    return ids


async def _transaction(db: Database, user_id: UUID) -> None:
    async with db.user(user_id) as session:
        await session.execute(_OWN_ROW, {"id": user_id})
        # RLS leaves one row of the USERS: the filter is the policy, not the query.
        assert await session.scalar(_ALL_ROWS) == 1


_SERVER_LOOP = """
DO $$
DECLARE
    t0 timestamptz;
    n constant integer := %d;
BEGIN
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM count(*) FROM auth.users;
    END LOOP;
    RAISE NOTICE 'read %%', extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM auth.current_user_id();
    END LOOP;
    RAISE NOTICE 'identity %%', extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END
$$
"""


async def _server_side(owner_url: str, user_id: UUID, loops: int) -> dict[str, float]:
    """µs per statement inside the server, as gv_user with the identity set as the app does."""
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    figures: dict[str, float] = {}

    def listen(_: object, message: asyncpg.PostgresLogMessage) -> None:
        name, value = str(message.message).split()
        figures[name] = float(value)

    conn.add_log_listener(listen)
    try:
        async with conn.transaction():
            if await conn.fetchval("SELECT to_regclass('auth.identity_key')") is not None:
                key = await conn.fetchval("SELECT key FROM auth.identity_key")
                mac = hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()
                await conn.execute(
                    "SELECT set_config('app.user_claim', $1, true)", f"{user_id}.{mac}"
                )
            else:
                await conn.execute("SELECT set_config('app.user_id', $1, true)", str(user_id))
            await conn.execute("SET LOCAL ROLE gv_user")
            assert await conn.fetchval("SELECT auth.current_user_id()") == user_id
            await conn.execute(_SERVER_LOOP % loops)
    finally:
        await conn.close()
    return figures


def _percentile(samples: list[float], share: float) -> float:
    return sorted(samples)[int(len(samples) * share)]


async def main(
    transactions: int, statements: int, clients: int, seconds: float, loops: int
) -> None:
    async with bench_server() as server, scratch_database(server) as owner_url:
        db = create_database(app_url_from_owner(owner_url), pool_size=clients)
        try:
            ids = await _users(db)
            for n in range(200):  # warm-up: pools, plan caches, the identity key
                await _transaction(db, ids[n % USERS])
            latencies = []
            for n in range(transactions):
                start = time.perf_counter()
                await _transaction(db, ids[n % USERS])
                latencies.append((time.perf_counter() - start) * 1e6)
            calls = []
            async with db.user(ids[0]) as session:
                for _ in range(statements):
                    start = time.perf_counter()
                    await session.execute(_WHO)
                    calls.append((time.perf_counter() - start) * 1e6)
            done = 0
            deadline = time.perf_counter() + seconds

            async def client(k: int) -> None:
                nonlocal done
                n = k
                while time.perf_counter() < deadline:
                    await _transaction(db, ids[n % USERS])
                    n += clients
                    done += 1

            began = time.perf_counter()
            await asyncio.gather(*(client(k) for k in range(clients)))
            rate = done / (time.perf_counter() - began)
            inside = await _server_side(owner_url, ids[0], loops)
        finally:
            await db.dispose()
    print(
        f"user transaction (db.user + 2 RLS reads), 1 client: median"
        f" {statistics.median(latencies):.0f} µs, p90 {_percentile(latencies, 0.9):.0f} µs"
        f" ({transactions} transactions)"
    )
    print(
        f"SELECT auth.current_user_id(): median {statistics.median(calls):.1f} µs,"
        f" p90 {_percentile(calls, 0.9):.1f} µs ({statements} statements)"
    )
    print(f"user transactions, {clients} clients, {seconds:.0f} s: {rate:.0f}/s")
    print(
        f"server side, {loops} statements as gv_user: RLS-filtered read"
        f" {inside['read']:.1f} µs, auth.current_user_id() {inside['identity']:.1f} µs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loops", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(main(args.transactions, args.statements, args.clients, args.seconds, args.loops))
