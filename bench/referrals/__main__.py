"""Purchases with 8 referral holds per second, against pgbench TPC-B on the same server; and
`GET /api/v1/referrals` for a referrer with 100,000 descendants over 8 levels.

    python -m bench.referrals [--seconds 10] [--clients 8,16,32,64] [--rounds 3]
                              [--descendants 100000]

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner/superuser URL) is set.
Each round runs TPC-B, then the purchases, so each ratio compares runs made seconds apart;
the summary is the median ratio per client count, then the two peaks compared: the best
median rate of purchases over the client counts against the best of TPC-B.
Every purchase is `Purchases.credit`, as the bot's `successful_payment` handler calls it (the
buyer already loaded, as the bot's middleware has them): the purchase row, the credit and 8
reward holds as one linked ledger group, the reward event, totals, realtime events and the
shared-wallet rule, in one transaction; concurrent purchases share a statement
(`services/purchases/batcher.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy import text

from app.capabilities import CAPABILITIES, http_routes
from app.services import bootstrap
from app.settings import load_settings
from bench.database import bench_server, scratch_database
from bench.ledger.__main__ import Run, pgbench, pgbench_init
from db.database import create_database
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from sandbox.initdata import sign_init_data
from services.purchases.packs import parse_packs
from services.purchases.schemas import InvoiceTerms
from services.purchases.service import PurchaseConfig
from services.purchases.usecase import Purchases
from services.referrals.config import ReferralConfig
from services.users.service import get_user
from webapp_api.app import create_root_app
from webapp_api.context import HttpConfig
from webapp_api.initdata import InitDataCheck

TOKEN = "7000000009:bench-referrals-token"  # noqa: S105 - signs the bench's own initData
CHAINS = 64  # independent chains of 9 users; purchases at the bottom of random chains
# Chains start STRIDE ids apart: 101 is odd and ≡ 5 (mod 16), so the buyers' Telegram ids fall
# on every one of the 16 sales and rewards shards, as real ids do (a stride of 100 put all
# 64 buyers on 4 shards: 8 clients queued on 4 locked rows).
STRIDE = 101
PACK = parse_packs("50:100")[0]

# Users in bulk, straight into the table (the ledger opens their accounts on first use).
_USERS = """
INSERT INTO auth.users (telegram_id, first_name, referral_code)
SELECT t, 'U' || t, 'c' || t FROM generate_series($1::bigint, $2::bigint) t
"""
# Closure rows for one level of a generated tree: the parent of the user with telegram id `t`
# is the one with `prev_lo + (t - lo) % parents` on the level above. (`auth.users.referred_by`
# is left unset: nothing measured here reads it, and its trigger would notify once per row.)
_LEVEL = """
WITH pairs AS (
    SELECT k.id AS kid, p.id AS parent
      FROM auth.users k
      JOIN auth.users p
        ON p.telegram_id = $3::bigint + (k.telegram_id - $1::bigint) % ($4::bigint - $3::bigint + 1)
     WHERE k.telegram_id BETWEEN $1 AND $2
)
INSERT INTO referrals.links (descendant_id, depth, ancestor_id)
SELECT kid, 1, parent FROM pairs
UNION ALL
SELECT pairs.kid, l.depth + 1, l.ancestor_id
  FROM pairs JOIN referrals.links l ON l.descendant_id = pairs.parent WHERE l.depth < 8
"""


async def build_tree(conn: asyncpg.Connection, first: int, sizes: list[int]) -> None:
    """A root (telegram id `first`) and levels of `sizes` users under it."""
    await conn.execute(_USERS, first, first)
    prev_lo = prev_hi = first
    lo = first + 1
    for size in sizes:
        hi = lo + size - 1
        await conn.execute(_USERS, lo, hi)
        await conn.execute(_LEVEL, lo, hi, prev_lo, prev_hi)
        prev_lo, prev_hi, lo = lo, hi, hi + 1


async def purchases(sales: Purchases, buyers: list[User], seconds: float, clients: int) -> Run:
    done = failed = 0
    stop = time.monotonic() + seconds

    async def client(n: int) -> None:
        nonlocal done, failed
        k = 0
        while time.monotonic() < stop:
            k += 1
            buyer = buyers[(n * 7919 + k) % len(buyers)]
            try:
                await sales.credit(
                    buyer,
                    charge_id=f"bench-{uuid.uuid4().hex}",
                    payload=InvoiceTerms.of(PACK, buyer.telegram_id).payload(),
                    currency="XTR",
                    total=PACK.stars,
                )
                done += 1
            except Exception:  # a bench counts failures, it does not stop
                failed += 1

    began = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return Run("purchases (credit + 8 reward holds)", done, failed, time.monotonic() - began)


async def referrals_latency(owner_url: str, root_telegram_id: int, requests: int) -> list[float]:
    settings = load_settings(
        database_url=owner_url, bot_username="goodvibe_bench_bot", api_rate_limit="100000/minute"
    )
    services = bootstrap(settings, owner_url)
    config = HttpConfig(init_data_check=InitDataCheck(bot_token=TOKEN), init_data_max_age=86400)
    app = create_root_app(services, config, routes=http_routes(CAPABILITIES))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    headers = {
        "Authorization": "tma "
        + sign_init_data(TOKEN, {"id": root_telegram_id, "first_name": f"U{root_telegram_id}"})
    }
    times: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/v1/referrals"
            for i in range(requests + 5):
                began = time.perf_counter()
                async with http.get(url, headers=headers) as response:
                    body = await response.json()
                assert body["success"], body
                if i >= 5:  # the first requests warm the pools and the plan cache
                    times.append(time.perf_counter() - began)
    finally:
        await runner.cleanup()
        await services.db.dispose()
    return times


async def main(args: argparse.Namespace) -> None:
    async with bench_server() as server, scratch_database(server) as url:
        owner = await asyncpg.connect(asyncpg_dsn(url))
        # Purchases: CHAINS chains of 9 (top + 8): every purchase pays 8 levels.
        base = 10_000_000
        for c in range(CHAINS):
            await build_tree(owner, base + c * STRIDE, [1] * 8)
        buyer_ids = [
            r["id"]
            for r in await owner.fetch(
                "SELECT id FROM auth.users"
                " WHERE (telegram_id - $1) % $2 = 8 AND telegram_id BETWEEN $1 AND $1 + $3",
                base,
                STRIDE,
                CHAINS * STRIDE,
            )
        ]
        db = create_database(app_url_from_owner(url), pool_size=max(args.clients) + 2)
        config = PurchaseConfig(parse_packs("50:100"), ReferralConfig())
        async with db.service() as session:
            buyers = [await get_user(session, b) for b in buyer_ids]
        await asyncio.to_thread(pgbench_init, url)
        # Per client count, the median rate of each over the rounds.
        tpcb: dict[int, float] = {}
        bought: dict[int, float] = {}
        for clients in args.clients:
            sales = Purchases(db, config, None, bot_username="", app_name="")
            ratios, baselines, runs = [], [], []
            await purchases(sales, buyers, 2, clients)  # connections opened, plans cached
            for round_ in range(args.rounds):
                baseline = await pgbench(url, args.seconds, clients)
                run = await purchases(sales, buyers, args.seconds, clients)
                baselines.append(baseline.rate)
                runs.append(run.rate)
                ratios.append(run.rate / baseline.rate)
                print(
                    f"{clients} clients, round {round_ + 1}: {baseline.name} "
                    f"{baseline.rate:.0f}/s, {run.name} {run.rate:.0f}/s ({run.failed} failed), "
                    f"ratio {ratios[-1]:.2f}"
                )
            tpcb[clients] = statistics.median(baselines)
            bought[clients] = statistics.median(runs)
            print(
                f"{clients} clients: purchases/s ÷ TPC-B tps, median of {args.rounds}: "
                f"{statistics.median(ratios):.2f} ({sales.batcher.batched} purchases shared a"
                f" statement, {sales.batcher.alone} had one alone)"
            )
        # What the server sustains of each, each at the client count that suits it best: TPC-B
        # peaks at a few clients and falls as its 10 branch rows queue; purchases climb as more
        # of them share a statement.
        best_tpcb = max(tpcb, key=tpcb.__getitem__)
        best_bought = max(bought, key=bought.__getitem__)
        print(
            f"each at its best client count (medians): purchases {bought[best_bought]:.0f}/s at"
            f" {best_bought} clients ÷ TPC-B {tpcb[best_tpcb]:.0f}/s at {best_tpcb} clients ="
            f" {bought[best_bought] / tpcb[best_tpcb]:.2f}"
        )
        # From the events, not the rewards view: that would look up each hold's resolution.
        holds = await owner.fetchval(
            "SELECT coalesce(sum(cardinality(ids)), 0) FROM referrals.reward_events"
        )
        print(f"{holds} reward holds written")
        await db.dispose()

        # GET /api/v1/referrals with 100,000 descendants over 8 levels.
        sizes = level_sizes(args.descendants)
        root = 50_000_000
        began = time.monotonic()
        await build_tree(owner, root, sizes)
        # Sums to read too: as if each descendant had earned the root one reward of 1,000 units
        # at their level, paid on even levels and held on odd ones.
        await owner.execute(
            """
            INSERT INTO referrals.totals (referrer_id, level, referees, pending, available)
            SELECT l.ancestor_id, l.depth, count(*),
                   CASE WHEN l.depth % 2 = 1 THEN 1000 * count(*) ELSE 0 END,
                   CASE WHEN l.depth % 2 = 0 THEN 1000 * count(*) ELSE 0 END
              FROM referrals.links l JOIN auth.users u ON u.id = l.ancestor_id
             WHERE u.telegram_id = $1
             GROUP BY l.ancestor_id, l.depth
            """,
            root,
        )
        # What autovacuum does to a table that grew: the visibility map lets the counts be
        # index-only scans.
        await owner.execute("VACUUM ANALYZE referrals.links, referrals.totals")
        print(
            f"tree of {sum(sizes)} descendants over 8 levels built in "
            f"{time.monotonic() - began:.1f} s: {sizes}"
        )
        times = await referrals_latency(url, root, args.requests)
        times.sort()
        p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
        print(
            f"GET /api/v1/referrals, {len(times)} requests: p50 {p50 * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms"
        )
        root_id = await owner.fetchval("SELECT id FROM auth.users WHERE telegram_id = $1", root)
        plan = await explain(url, root_id)
        print("plan of referrals.my_levels for that user:")
        print(plan)
        await owner.close()


def level_sizes(total: int) -> list[int]:
    """8 levels growing about 4.3x each, summing to `total`."""
    weights = [4.3**i for i in range(8)]
    sizes = [max(1, int(total * w / sum(weights))) for w in weights]
    sizes[-1] += total - sum(sizes)
    return sizes


async def explain(owner_url: str, user_id: Any) -> str:
    """The view's plan as the signed-in user runs it (the claim set by `Database.user`)."""
    db = create_database(app_url_from_owner(owner_url), pool_size=1)
    try:
        async with db.user(user_id) as session:
            rows = await session.execute(
                text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM referrals.my_levels")
            )
            return "\n".join(r[0] for r in rows)
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--clients",
        type=lambda v: [int(c) for c in v.split(",")],
        default=[8, 16, 32, 64],
        help="client counts to measure in turn, comma-separated (default 8,16,32,64)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--descendants", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
