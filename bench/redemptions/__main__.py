"""Promo redemptions per second on one hot code, against pgbench TPC-B on the same server.

    python -m bench.redemptions [--seconds 6] [--clients 16] [--users 1000] [--rounds 3]
                                [--one-by-one]

Every client redeems the same code as a random user (the code allows every user many uses),
through `Promos.redeem`, the call both doors make, with the `RedemptionBatcher` the
composition root gives it (`--one-by-one`: without): the redemptions waiting for the code go
in one `gifts.redeem_promos` statement and one commit, each member a subtransaction with the
conditional UPDATE of a slot, the redemption row and the linked ledger batch (void the budget
hold, credit the user, hold the rest). All redemptions of one code queue on that row, so this
is the worst case for a promo campaign. Baseline and redemptions take turns per round; the
ratio is per round, and the median is the figure.

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner/superuser URL) is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics

import asyncpg
from sqlalchemy import select, text

from bench.database import bench_server, scratch_database
from bench.ledger.__main__ import Run, drive, pgbench, pgbench_init, prepare
from db.database import create_database
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from services.errors import DomainError
from services.promo.batcher import RedemptionBatcher
from services.promo.usecase import Promos
from services.transfers.config import LedgerConfig

CODE = "HOTCODE"


async def redemptions(
    owner_url: str, seconds: float, clients: int, rounds: int, pgbench_url: str, batched: bool
) -> list[tuple[Run, Run]]:
    db = create_database(app_url_from_owner(owner_url), pool_size=clients, application_name="bench")
    ledger = LedgerConfig()
    batcher = RedemptionBatcher(db) if batched else None
    promos = Promos(db, ledger.assets, user_limit=None, ip_limit=None, batcher=batcher)
    try:
        async with db.service() as session:
            users = list((await session.scalars(select(User))).all())
            admin = users[0]
            await session.execute(
                text("UPDATE auth.users SET role = 'admin' WHERE id = :id"), {"id": admin.id}
            )
        admin.role = "admin"
        await promos.create(
            admin=admin, code=CODE, asset="VIBE", amount=1, max_uses=1_000_000, per_user=1000
        )

        async def one() -> bool:
            try:
                await promos.redeem(user=random.choice(users), code=CODE)
            except DomainError:
                return False
            return True

        await drive("warm-up", 2, clients, one)
        results = []
        for _ in range(rounds):
            baseline = await pgbench(pgbench_url, seconds, clients)
            results.append(
                (baseline, await drive("redemptions, one hot code", seconds, clients, one))
            )
        if batcher is not None:
            print(f"batched {batcher.batched}, alone {batcher.alone} redemptions")
        return results
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one-by-one", action="store_true", help="without the batcher")
    args = parser.parse_args()
    async with bench_server() as server_url:
        admin = await asyncpg.connect(asyncpg_dsn(server_url))
        version = await admin.fetchval("SHOW server_version")
        await admin.close()
        async with (
            scratch_database(server_url, migrate=False) as owner_url,
            scratch_database(server_url, migrate=False) as pgbench_url,
        ):
            await prepare(owner_url, args.users)
            await asyncio.to_thread(pgbench_init, pgbench_url)
            rounds = await redemptions(
                owner_url, args.seconds, args.clients, args.rounds, pgbench_url, not args.one_by_one
            )
    print(
        f"PostgreSQL {version}, {os.cpu_count()} CPUs, {args.clients} clients, "
        f"{args.seconds:g} s per run, one code, "
        + ("one statement per redemption" if args.one_by_one else "batched")
    )
    print("round  pgbench TPC-B  redemptions (refused)  ratio")
    for n, (base, run) in enumerate(rounds, 1):
        ratio = run.rate / base.rate
        print(f"{n:5}  {base.rate:10.0f}/s  {run.rate:9.0f}/s ({run.failed:5})  {ratio:5.2f}")
    ratios = [run.rate / base.rate for base, run in rounds]
    print(
        f"redemptions / TPC-B: median ratio {statistics.median(ratios):.2f} "
        f"(lowest {min(ratios):.2f}, highest {max(ratios):.2f}; goal >= 0.5)"
    )


if __name__ == "__main__":
    asyncio.run(main())
