"""Market offer fills per second through the use case, against pgbench TPC-B on the same server.

    python -m bench.market [--seconds 6] [--clients 16] [--offers 200] [--rounds 3]

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner/superuser URL) is set.

Each fill is what `POST /api/v1/market/offers/{id}/fill` runs below HTTP: `Market.fill`, one
service transaction (the offer's UPDATE, the linked ledger batch of five legs, the fill's
record with its realtime events and the maker's notice). Two workloads: fills spread over many
offers (makers and takers drawn at random), and every client filling one hot offer (the
offer's row is taken by one fill at a time, by design: that is what keeps fills within it).
Baseline and fills take turns, so each ratio compares runs made seconds apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy import select

from bench.database import bench_server, scratch_database
from bench.ledger.__main__ import Run, drive, pgbench, pgbench_init
from db.database import Database, create_database
from db.migrate import upgrade
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from services.ledger.service import AssetRegistry
from services.market.config import MarketRules
from services.market.usecase import Market

FUNDS = 10**15
OFFER_SIZE = 10**14


async def prepare(owner_url: str, users: int) -> None:
    """`users` users, each funded with VIBE and USDT."""
    await upgrade(owner_url)
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        await conn.execute(
            """
            INSERT INTO auth.users (telegram_id, username, first_name, referral_code)
            SELECT 20000000 + g, 'mkt' || g, 'Trader ' || g, 'mkt' || lpad(g::text, 8, '0')
            FROM generate_series(1, $1) g
            """,
            users,
        )
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM auth.users")]
        batch = [
            {
                "id": str(uuid.uuid4()),
                "debit": "system:issuance",
                "credit": f"user:{user_id}",
                "asset": asset,
                "amount": str(FUNDS),
                "code": "bench_funding",
            }
            for user_id in ids
            for asset in ("VIBE", "USDT")
        ]
        await conn.fetchval("SELECT tokens.create_transfers($1::jsonb, false)", json.dumps(batch))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


class FillBench:
    def __init__(self, owner_url: str, seconds: float, clients: int, fee_bps: int) -> None:
        self.db: Database = create_database(
            app_url_from_owner(owner_url), pool_size=clients, application_name="bench"
        )
        self.seconds, self.clients = seconds, clients
        self.market = Market(
            self.db, MarketRules(fee_bps=fee_bps, max_open_offers=10), AssetRegistry()
        )
        self.makers: list[User] = []
        self.takers: list[User] = []
        self.offers: list[uuid.UUID] = []

    async def start(self, offers: int) -> None:
        async with self.db.service() as session:
            users = list((await session.scalars(select(User))).all())
        self.makers, self.takers = users[:offers], users[offers:]
        for maker in self.makers:
            created = await self.market.create(
                maker=maker,
                offer_id=uuid.uuid4(),
                sell_asset="VIBE",
                sell_amount=OFFER_SIZE,
                buy_asset="USDT",
                buy_amount=OFFER_SIZE // 3 + 7,  # an awkward ratio: every fill rounds
            )
            self.offers.append(created.id)
        await drive("warm-up", 2, self.clients, self._fill(lambda: random.choice(self.offers)))

    async def close(self) -> None:
        await self.db.dispose()

    def _fill(self, pick: Callable[[], uuid.UUID]) -> Callable[[], Awaitable[bool]]:
        async def one() -> bool:
            await self.market.fill(
                taker=random.choice(self.takers),
                fill_id=uuid.uuid4(),
                offer_id=pick(),
                amount=random.randint(1, 1000) * 10_000,
            )
            return True

        return one

    async def spread(self) -> Run:
        return await drive(
            "fills, random offers",
            self.seconds,
            self.clients,
            self._fill(lambda: random.choice(self.offers)),
        )

    async def hot(self) -> Run:
        return await drive(
            "fills, one hot offer", self.seconds, self.clients, self._fill(lambda: self.offers[0])
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--fee-bps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rounds: list[tuple[Run, Run, Run]] = []
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
            bench = FillBench(owner_url, args.seconds, args.clients, args.fee_bps)
            try:
                await bench.start(args.offers)
                for _ in range(args.rounds):
                    baseline = await pgbench(pgbench_url, args.seconds, args.clients)
                    rounds.append((baseline, await bench.spread(), await bench.hot()))
            finally:
                await bench.close()

    print(
        f"PostgreSQL {version}, {os.cpu_count()} CPUs, {args.clients} clients, "
        f"{args.seconds:g} s per run, {args.offers} offers, fee {args.fee_bps} bps"
    )
    print(f"{'round':>5}  {'TPC-B':>8}  {'fills, random offers':>27}  {'fills, one hot offer':>27}")
    for n, (base, spread, hot) in enumerate(rounds, start=1):
        print(
            f"{n:5}  {base.rate:7.0f}/s  {spread.rate:8.0f}/s  ratio {spread.rate / base.rate:5.2f}"
            f"      {hot.rate:8.0f}/s  ratio {hot.rate / base.rate:5.2f}"
        )
    for column, name in ((1, "fills, random offers"), (2, "fills, one hot offer")):
        ratios = [r[column].rate / r[0].rate for r in rounds]
        print(
            f"{name:24} median ratio to TPC-B {statistics.median(ratios):5.2f}"
            f"  (lowest {min(ratios):.2f}, highest {max(ratios):.2f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
