"""py-spy samples of the platform process under load, summed into the request path's costs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

RATE = 200  # samples per second

Stack = list[str]


def py_spy() -> str | None:
    """`py-spy` from PATH or BENCH_PY_SPY (e.g. `pip install --prefix /tmp/pyspy py-spy`)."""
    return os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")


async def record(binary: str, pid: int, seconds: float, out: Path) -> None:
    argv = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", str(RATE), "--nonblocking", "--format", "raw", "--output", str(out)]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"py-spy failed: {done.stderr.strip()}")


def _calls(name: str) -> Callable[[Stack], bool]:
    return lambda stack: any(frame.startswith(name + " ") for frame in stack)


def _in(path: str) -> Callable[[Stack], bool]:
    return lambda stack: any(path in frame for frame in stack)


def _limiter(stack: Stack) -> bool:
    # `limits`' in-memory storage's expiry sweep hopped to a worker thread once per key per
    # sweep: worker-thread samples were its.
    return (
        _in("limits/")(stack)
        or _in("ratelimit/limiter.py")(stack)
        or stack[0].startswith("Thread._bootstrap")
    )


# (label, predicate): inclusive, so the indented lines are parts of the line above them.
COSTS: list[tuple[str, Callable[[Stack], bool]]] = [
    ("request task (aiohttp _handle_request)", _calls("RequestHandler._handle_request")),
    ("  middlewares + handler (envelope_middleware)", _calls("envelope_middleware")),
    ("  aiohttp: parse request (data_received)", _calls("RequestHandler.data_received")),
    ("  aiohttp: write response (finish_response)", _calls("RequestHandler.finish_response")),
    ("rate limiters, incl. the storage's expiry threads", _limiter),
    ("  MemoryStorage.acquire_entry (the hits)", _calls("MemoryStorage.acquire_entry")),
    ("  expiry sweep on the loop (to_thread per key)", _in("__expire_events")),
    ("  worker threads of that sweep", lambda s: s[0].startswith("Thread._bootstrap")),
    ("initData: InitDataCache.verify (cached or checked)", _calls("InitDataCache.verify")),
    ("  initData HMAC check (verify_init_data, on a miss)", _calls("verify_init_data")),
    ("identity: IdentityCache.resolve (cached or read)", _calls("IdentityCache.resolve")),
    ("  identity read (resolve_telegram_user, on a miss)", _calls("resolve_telegram_user")),
    ("/health: Database.ping (one SELECT 1)", _calls("Database.ping")),
    ("POST: create_transfer", _calls("create_transfer")),
    ("  run_once (idempotency: lookup tx + action tx)", _calls("run_once")),
    ("  ORM sessions (Database._scoped)", _calls("Database._scoped")),
    ("  resolve_recipient", _calls("resolve_recipient")),
    ("  SendBatcher (plan, batch statement)", _in("transfers/batcher.py")),
    ("pydantic (anywhere)", _in("pydantic/")),
    (
        "envelope ok()/fail() + json_response",
        lambda s: any(re.match(r"(ok|fail|json_response) ", f) for f in s),
    ),
    ("json encoding (anywhere)", _in("json/encoder.py")),
    ("SQLAlchemy (greenlet_spawn, anywhere)", _calls("greenlet_spawn")),
    ("asyncpg prepared statements (anywhere)", _in("asyncpg/prepared_stmt.py")),
    (
        "socket send() (all sockets: clients, PostgreSQL)",
        lambda s: s[-1].startswith("_SelectorSocketTransport.write "),
    ),
    ("socket reads (_read_ready)", _calls("_SelectorSocketTransport._read_ready")),
    ("outbox delivery worker (role all)", _in("OutboxDelivery")),
    ("local sandbox Bot API (role all)", _in("sandbox/")),
    ("bot polling (role all)", _in("polling")),
]


def _frames(raw: Path) -> list[tuple[Stack, int]]:
    samples = []
    for line in raw.read_text().split("\n"):
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append(([frame.strip() for frame in stack.split(";")], int(count)))
    return samples


def summarize(raw: Path, seconds: float, rps: float) -> str:
    """Each cost as a share of the samples and as CPU µs per request at `rps`."""
    samples = _frames(raw)
    total = sum(n for _, n in samples)
    if total == 0 or rps <= 0:
        return "no samples"
    busy = total / (RATE * seconds)  # CPUs kept busy (threads add up)
    per_request = 1e6 * busy / rps
    lines = [f"{total} samples: {busy:.0%} of a CPU; {per_request:,.0f} µs of CPU per request"]
    for label, matches in COSTS:
        n = sum(count for stack, count in samples if matches(stack))
        if n:
            lines.append(f"  {100 * n / total:5.1f} %  {per_request * n / total:7,.0f} µs  {label}")
    own: Counter[str] = Counter()
    for stack, count in samples:
        own[stack[-1].split(" (")[0]] += count
    lines.append(
        "  where the CPU was (self): "
        + ", ".join(f"{name} {100 * n / total:.1f} %" for name, n in own.most_common(6))
    )
    return "\n".join(lines)
