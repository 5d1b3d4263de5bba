"""A closed-loop HTTP load generator: N clients, each sending its next request on a reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def measure(
    url: str, headers_for: Callable[[int], dict[str, str]], *, clients: int, seconds: float
) -> Rate:
    deadline = time.perf_counter() + seconds
    done = errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client(index: int) -> None:
            nonlocal done, errors
            n = index
            while time.perf_counter() < deadline:
                async with http.get(url, headers=headers_for(n)) as response:
                    await response.read()
                    errors += response.status != 200
                done += 1
                n += clients

        start = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return Rate(done, elapsed, errors)
