"""What the realtime trigger costs a ledger statement: pgbench's P2P statement (bench.ledger's,
no Python) with the trigger off, as migration 0010 made it (transfer events only), on (as
migrated now: transfer and balance events, ids from ops.next_event_id), and on with a
`pg_notify` added (what the trigger did first; kept to show why it no longer does).

    python -m bench.realtime.trigger [--seconds 5] [--clients 16] [--rounds 3]

The three take turns within each round, so each compares runs made seconds apart on a shared
machine; the summary is each variant's median rate and its median ratio to "off".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from importlib import import_module
from pathlib import Path

import asyncpg

from bench.database import bench_server, scratch_database
from bench.ledger.__main__ import pgbench_p2p, prepare
from db.urls import asyncpg_dsn

SOURCE = Path(__file__).resolve().parents[2] / "db" / "sql" / "tokens" / "transfer_events.sql"
_OFF = "ALTER TABLE tokens.transfers DISABLE TRIGGER transfers_events"
_ON = "ALTER TABLE tokens.transfers ENABLE TRIGGER transfers_events"


async def _set(owner_url: str, variant: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        source = SOURCE.read_text()
        if variant == "off":
            await conn.execute(_OFF)
            return
        await conn.execute(_ON)
        if variant == "transfers only":
            # Migration 0010's function: transfer events, no balance events.
            source = import_module("migrations.versions.0010_realtime").TRANSFER_EVENTS
        if variant == "+ notify":
            source = source.replace(
                "    RETURN NULL;", "    PERFORM pg_notify('gv_events', '1');\n    RETURN NULL;"
            )
        await conn.execute(source)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    variants = ("off", "transfers only", "on", "+ notify")
    rates: dict[str, list[float]] = {v: [] for v in variants}
    async with bench_server() as server_url, scratch_database(server_url, migrate=False) as url:
        await prepare(url, args.users)
        for n in range(1, args.rounds + 1):
            line = []
            for variant in variants:
                await _set(url, variant)
                run = await pgbench_p2p(url, args.seconds, args.clients)
                rates[variant].append(run.rate)
                line.append(f"{variant} {run.rate:6.0f}/s")
            print(f"round {n}: " + "   ".join(line), flush=True)
        await _set(url, "on")
    for variant in variants:
        ratios = [r / off for r, off in zip(rates[variant], rates["off"], strict=True)]
        print(
            f"{variant:14} median {statistics.median(rates[variant]):6.0f}/s"
            f"  ratio to off {statistics.median(ratios):.2f}"
            f" (lowest {min(ratios):.2f}, highest {max(ratios):.2f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
