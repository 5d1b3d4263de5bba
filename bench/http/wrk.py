"""`wrk` (Debian's), its Lua request scripts, and its report parsed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing (root only)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing and this is not root: run `apt-get install -y wrk`")
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(f"wrk is missing and `apt-get install -y wrk` failed ({done.returncode})")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    raw: str

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unknown wrk duration {value!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rps is None:
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(done[1]),
        seconds=_ms(done[2] + done[3]) / 1e3,
        rps=float(rps[1]),
        p50_ms=_ms(latency["50"]) if "50" in latency else float("nan"),
        p99_ms=_ms(latency["99"]) if "99" in latency else float("nan"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        raw=output,
    )


async def run_wrk(
    wrk: str, url: str, *, connections: int, seconds: float, script: Path | None = None
) -> WrkResult:
    threads = max(1, min(2, connections))
    argv = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
    argv += ["--latency", "--timeout", "10s"]
    if script is not None:
        argv += ["-s", str(script)]
    done = await asyncio.to_thread(
        subprocess.run, [*argv, url], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return parse(done.stdout)


def _lua_strings(values: list[str]) -> str:
    # JSON string syntax is valid Lua for ASCII text (initData is URL-encoded).
    return "{\n" + ",\n".join(json.dumps(v) for v in values) + "\n}"


def me_script(path: Path, init_data: list[str]) -> Path:
    """GET /api/v1/me, each request signed as the next of many users."""
    path.write_text(
        f"""
local auths = {_lua_strings(init_data)}
local requests = {{}}
local n = 0
init = function(args)
  for i, a in ipairs(auths) do
    requests[i] = wrk.format("GET", "/api/v1/me", {{["Authorization"] = "tma " .. a}})
  end
  n = math.random(#requests)
end
request = function()
  n = n % #requests + 1
  return requests[n]
end
"""
    )
    return path


def transfers_script(
    path: Path, init_data: list[str], recipients: list[str], amount_units: int
) -> Path:
    """POST /api/v1/transfers: user i sends to recipients[i], a new Idempotency-Key each time."""
    run = uuid.uuid4().hex[:12]
    path.write_text(
        f"""
local auths = {_lua_strings(init_data)}
local recipients = {_lua_strings(recipients)}
local threads = 0
local counter = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tn", threads)
end
request = function()
  counter = counter + 1
  local i = (counter * 7 + tn * 101) % #auths + 1
  local body = '{{"recipient":"' .. recipients[i] .. '","amount":"{amount_units}"}}'
  return wrk.format("POST", "/api/v1/transfers", {{
    ["Authorization"] = "tma " .. auths[i],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "{run}-" .. tn .. "-" .. counter,
  }}, body)
end
"""
    )
    return path
