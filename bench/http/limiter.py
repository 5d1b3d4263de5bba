"""`python -m bench.http.limiter`: what the API's two rate limiters cost a process, alone.

Paces requests at a fixed rate (each request: one hit on the per-address limiter, one on the
per-user limiter, as `webapp_api/middlewares.py` does) after `keys` users have been seen in
the window, and prints the process's CPU (all threads) against the same paced loop without
limiters, measured in the same run. The in-memory storage's expiry sweep walks every key
with one `asyncio.to_thread` each, again as soon as the previous sweep ends, so its cost
follows the number of keys, not the request rate.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from services.ratelimit.limiter import RateLimiter, make_storage

LIMIT = "1000000/second"  # as bench.http sets it: never refuses


async def paced(rate: float, seconds: float, keys: int | None) -> tuple[float, float]:
    """(requests/s, CPUs busy) for `seconds` at `rate`; `keys=None` runs without limiters."""
    storage = make_storage(None)
    user = RateLimiter.create(storage, "api-user", LIMIT)
    address = RateLimiter.create(storage, "api-ip", LIMIT)
    for key in range(keys or 0):
        await user.hit(str(key))
    done = 0
    cpu, start = time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        if keys is not None:
            await address.hit("127.0.0.1")
            await user.hit(str(done % keys))
        done += 1
        await asyncio.sleep(1 / rate)
    wall = time.perf_counter() - start
    return done / wall, (time.process_time() - cpu) / wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 1000])
    parser.add_argument("--keys", type=int, nargs="+", default=[1, 200, 2000])
    args = parser.parse_args()
    print(f"{'user keys':>10} {'req/s':>7} {'CPU busy':>9} {'µs CPU/request':>15} {'÷ none':>7}")
    for rate in args.rates:
        base_rps, base_cpu = await paced(rate, args.seconds, None)
        _row("none", base_rps, base_cpu, base_cpu)
        for keys in args.keys:
            rps, cpu = await paced(rate, args.seconds, keys)
            _row(str(keys), rps, cpu, base_cpu)


def _row(keys: str, rps: float, cpu: float, base_cpu: float) -> None:
    print(f"{keys:>10} {rps:7.0f} {cpu:9.1%} {1e6 * cpu / rps:15.0f} {cpu / base_cpu:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
