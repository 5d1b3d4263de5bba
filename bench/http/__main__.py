"""`python -m bench.http`: the Mini App API under `wrk`, beside two baselines, same run.

    python -m bench.http [--seconds 5] [--rounds 5] [--connections 64] [--users 200]
                         [--database-url postgresql://...] [--role all|api] [--profile DIR]

Starts a PostgreSQL (the embedded one unless `--database-url`/BENCH_DATABASE_URL names a
server, where scratch databases are created and dropped) and three servers, each in its own
process: a bare aiohttp JSON handler, a bare aiohttp handler doing one asyncpg read, and the
platform itself (`python -m bot --role all`, sandbox on, rate limits raised). `wrk` drives
each from outside; `SendBatcher` alone (bench.ledger's method) runs in this process while
the servers idle. Each round measures everything once, in turn, so each round's ratios
compare runs made seconds apart; the summary is the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.database import bench_server, scratch_database
from bench.http.baseline import FIRST_TELEGRAM_ID
from bench.http.profile import py_spy, record, summarize
from bench.http.servers import Server, baseline, platform_token, the_platform
from bench.http.wrk import WrkResult, ensure_wrk, me_script, run_wrk, transfers_script
from bench.ledger.__main__ import P2PBench, Run, prepare
from db.urls import asyncpg_dsn
from sandbox.initdata import sign_init_data

AMOUNT_UNITS = 10_000  # 0.01 VIBE (6 decimals): the P2P minimum
LEDGER_USERS = 1000


@dataclass
class Round:
    load_before: float
    http: dict[str, WrkResult] = field(default_factory=dict)
    batcher: Run | None = None


@dataclass
class Bench:
    wrk: str
    workdir: Path
    seconds: float
    connections: int
    init_data: list[str]
    recipients: list[str]
    bare: Server
    query: Server
    platform: Server
    p2p: P2PBench

    def workloads(self) -> list[tuple[str, Callable[[float], Coroutine[Any, Any, WrkResult]]]]:
        c = self.connections
        return [
            ("bare aiohttp", lambda s: self._get(self.bare, "/", c, s)),
            ("bare + one asyncpg read", lambda s: self._get(self.query, "/", c, s)),
            ("GET /api/v1/health", lambda s: self._get(self.platform, "/api/v1/health", c, s)),
            ("GET /api/v1/me", self._me),
            ("POST /api/v1/transfers, 16 conn", lambda s: self._transfers(16, s)),
        ] + (
            [(f"POST /api/v1/transfers, {c} conn", lambda s: self._transfers(c, s))]
            if c != 16
            else []
        )

    async def _get(self, server: Server, path: str, connections: int, s: float) -> WrkResult:
        return await run_wrk(self.wrk, server.url(path), connections=connections, seconds=s)

    async def _me(self, s: float) -> WrkResult:
        script = me_script(self.workdir / "me.lua", self.init_data)
        return await run_wrk(
            self.wrk,
            self.platform.url("/api/v1/me"),
            connections=self.connections,
            seconds=s,
            script=script,
        )

    async def _transfers(self, connections: int, s: float) -> WrkResult:
        # A new script each run: its Idempotency-Keys must never repeat (a replay is cheaper).
        script = transfers_script(
            self.workdir / "transfers.lua", self.init_data, self.recipients, AMOUNT_UNITS
        )
        return await run_wrk(
            self.wrk,
            self.platform.url("/api/v1/transfers"),
            connections=connections,
            seconds=s,
            script=script,
        )


def sign_users(token: str, users: int) -> list[str]:
    return [
        sign_init_data(token, {"id": FIRST_TELEGRAM_ID + i, "first_name": f"Bench {i}"})
        for i in range(users)
    ]


async def register(platform: Server, init_data: list[str]) -> None:
    """Every user once through /me (created, welcome bonus), then one transfer checked."""
    async with aiohttp.ClientSession() as http:
        for signed in init_data:
            async with http.get(
                platform.url("/api/v1/me"), headers={"Authorization": f"tma {signed}"}
            ) as response:
                if response.status != 200:
                    raise SystemExit(f"/me answered {response.status}: {await response.text()}")
        async with http.post(
            platform.url("/api/v1/transfers"),
            headers={"Authorization": f"tma {init_data[0]}", "Idempotency-Key": "bench-check"},
            json={"recipient": str(FIRST_TELEGRAM_ID + 1), "amount": str(AMOUNT_UNITS)},
        ) as response:
            if response.status != 201:
                raise SystemExit(f"a transfer answered {response.status}: {await response.text()}")


def _loud(name: str, result: WrkResult) -> None:
    if result.errors:
        print(
            f"!!! {name}: {result.non_2xx} non-2xx responses and {result.socket_errors} socket "
            f"errors of {result.requests} requests: this run's figures are NOT valid !!!",
            flush=True,
        )


async def run_rounds(bench: Bench, rounds: int) -> list[Round]:
    print("warm-up: every workload for 2 s", flush=True)
    for name, work in bench.workloads():
        _loud(f"warm-up {name}", await work(2))
    done: list[Round] = []
    for n in range(1, rounds + 1):
        this = Round(load_before=os.getloadavg()[0])
        for name, work in bench.workloads():
            this.http[name] = result = await work(bench.seconds)
            _loud(f"round {n} {name}", result)
            slug = "".join(c if c.isalnum() else "_" for c in name)
            (bench.workdir / f"wrk-r{n}-{slug}.txt").write_text(result.raw)
        this.batcher = await bench.p2p.batched_random()
        print(f"round {n} done (load average before: {this.load_before:.1f})", flush=True)
        done.append(this)
    return done


def report(done: list[Round], connections: int, seconds: float, version: str) -> None:
    names = list(done[0].http)
    print(
        f"\nPostgreSQL {version}, {os.cpu_count()} CPUs, wrk -t2 --latency, {seconds:g} s per "
        f"run, {connections} connections unless said; load average before each round: "
        + ", ".join(f"{r.load_before:.1f}" for r in done)
    )
    print(f"{'':34}" + "".join(f"{'round ' + str(i + 1):>20}" for i in range(len(done))))
    for name in names:
        cells = "".join(f"{r.http[name].rps:>9.0f}/s {r.http[name].p99_ms:>7.1f}ms" for r in done)
        errors = sum(r.http[name].errors for r in done)
        flag = f"  !!! {errors} errors" if errors else ""
        print(f"{name:34}{cells}{flag}")
    batch = [r.batcher for r in done if r.batcher is not None]
    print(
        f"{'SendBatcher alone, ' + str(connections) + ' clients':34}"
        + "".join(f"{b.rate:>9.0f}/s {'':9}" for b in batch)
    )

    transfers_c = f"POST /api/v1/transfers, {connections} conn"
    ratios: list[tuple[str, str, Callable[[Round], float]]] = [
        (
            "/health ÷ bare+query",
            "≥ 0.8",
            lambda r: r.http["GET /api/v1/health"].rps / r.http["bare + one asyncpg read"].rps,
        ),
        (
            "/me ÷ bare+query",
            "≥ 0.6",
            lambda r: r.http["GET /api/v1/me"].rps / r.http["bare + one asyncpg read"].rps,
        ),
        ("/health p99 ms", "≤ 50", lambda r: r.http["GET /api/v1/health"].p99_ms),
        ("/me p99 ms", "≤ 50", lambda r: r.http["GET /api/v1/me"].p99_ms),
        (
            "POST /transfers (16) ÷ SendBatcher",
            "≥ 0.5",
            lambda r: r.http["POST /api/v1/transfers, 16 conn"].rps / _rate(r.batcher),
        ),
        (
            f"POST /transfers ({connections}) ÷ SendBatcher",
            "≥ 0.5",
            lambda r: r.http[transfers_c].rps / _rate(r.batcher),
        ),
        ("POST /transfers p99 ms", "no goal", lambda r: r.http[transfers_c].p99_ms),
    ]
    ratios = list({row[0]: row for row in ratios}.values())  # --connections 16: one row
    print(
        f"\n{'ratio (goal)':44}"
        + "".join(f"{'r' + str(i + 1):>8}" for i in range(len(done)))
        + f"{'median':>9}"
    )
    for name, goal, value in ratios:
        values = [value(r) for r in done]
        print(
            f"{name + ' (' + goal + ')':44}"
            + "".join(f"{v:8.2f}" for v in values)
            + f"{statistics.median(values):9.2f}"
        )
    print(f"\n{'median of the rounds':34}{'req/s':>9} {'p50':>8} {'p99':>9}")
    for name in names:
        print(
            f"{name:34}{statistics.median(r.http[name].rps for r in done):9.0f}"
            f" {statistics.median(r.http[name].p50_ms for r in done):7.1f}ms"
            f" {statistics.median(r.http[name].p99_ms for r in done):8.1f}ms"
        )
    print(f"{'SendBatcher alone':34}{statistics.median(b.rate for b in batch):9.0f}")
    if any(r.http[n].errors for r in done for n in names):
        print("\n!!! SOME RUNS HAD ERRORS (non-2xx or socket errors): see the lines above !!!")


def _rate(run: Run | None) -> float:
    assert run is not None
    return run.rate


async def profile(bench: Bench, out: Path) -> None:
    """py-spy on the platform process while wrk drives /health, /me and /transfers."""
    binary = py_spy()
    if binary is None:
        print("--profile: no py-spy (PATH or BENCH_PY_SPY); skipped")
        return
    pid = bench.platform.process.pid
    seconds = bench.seconds
    for name, work in bench.workloads()[2:]:
        raw = out / (name.split()[1].strip("/").replace("/", "_") + name.split()[-2] + ".txt")
        load = asyncio.create_task(work(seconds + 2))
        await asyncio.sleep(1)
        await record(binary, pid, seconds, raw)
        result = await load
        print(f"\n== profile: {name} ({result.rps:.0f} req/s under py-spy) -> {raw}")
        print(summarize(raw, seconds, result.rps))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--users", type=int, default=200, help="distinct signed users")
    parser.add_argument("--database-url", help="a superuser URL (default: embedded server)")
    parser.add_argument("--role", default="all", choices=["all", "api"])
    parser.add_argument("--profile", type=Path, help="also py-spy the platform; raw files here")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        os.environ["BENCH_DATABASE_URL"] = args.database_url
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="gv-bench-http-"))
    print(f"logs and wrk reports: {workdir}", flush=True)

    async with bench_server() as server_url:
        admin = await asyncpg.connect(asyncpg_dsn(server_url))
        version = await admin.fetchval("SHOW server_version")
        await admin.close()
        async with (
            scratch_database(server_url) as owner_url,
            scratch_database(server_url, migrate=False) as ledger_url,
            the_platform(owner_url, workdir, args.role) as platform,
        ):
            init_data = sign_users(platform_token(platform), args.users)
            await register(platform, init_data)
            recipients = [str(FIRST_TELEGRAM_ID + (i + 1) % args.users) for i in range(args.users)]
            await prepare(ledger_url, LEDGER_USERS)
            p2p = P2PBench(ledger_url, args.seconds, args.connections, fee_bps=50)
            try:
                await p2p.start(batch_workers=2)
                # Its warm-up left one idle connection per client in the pools; the servers
                # need those slots (max_connections). The batcher keeps its own two.
                await p2p.db.engine.dispose()
                if p2p.db.statement_engine is not None:
                    await p2p.db.statement_engine.dispose()
                async with (
                    baseline("bare", workdir) as bare,
                    baseline("query", workdir, asyncpg_dsn(owner_url)) as query,
                ):
                    bench = Bench(
                        wrk,
                        workdir,
                        args.seconds,
                        args.connections,
                        init_data,
                        recipients,
                        bare,
                        query,
                        platform,
                        p2p,
                    )
                    done = await run_rounds(bench, args.rounds)
                    report(done, args.connections, args.seconds, version)
                    if args.profile is not None:
                        await profile(bench, args.profile)
            finally:
                await p2p.close()


if __name__ == "__main__":
    asyncio.run(main())
