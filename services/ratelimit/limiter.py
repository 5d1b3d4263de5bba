"""Moving-window rate limits per key, in memory, or in Redis when several instances share them.

In memory, each key keeps the times of its hits inside the window in a deque, pruned when the
key is hit again; keys are kept in the order they were last hit, and each hit drops the stalest
key if its whole window has passed. So a hit costs O(1) amortised and nothing runs between
hits: `limits`' own memory storage swept every key in a thread after every hit, which cost
more CPU than the requests it guarded (bench/http/RESULTS.md). With REDIS_URL the windows are
`limits`' Redis moving windows, so the limits hold across every instance that shares Redis.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from limits.util import WindowStats

from services.errors import RateLimited


class WindowStrategy(Protocol):
    """What a limiter needs of its windows: `limits`' async strategies have this shape."""

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool: ...

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats: ...


class MemoryWindows:
    """Moving windows of this process only; the same answers as `limits`' moving window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # Per window length, the keys in the order they were last hit: the first is the
        # stalest, so one look tells whether any key's whole window has passed.
        self._windows: dict[int, dict[str, deque[float]]] = {}
        self._clock = clock

    def _hits(self, item: RateLimitItem, identifiers: tuple[str, ...], now: float) -> deque[float]:
        expiry = item.get_expiry()
        keys = self._windows.setdefault(expiry, {})
        key = item.key_for(*identifiers)
        hits = keys.pop(key, None)
        start = now - expiry
        if hits is None:
            hits = deque()
        else:
            while hits and hits[0] <= start:
                hits.popleft()
        self._drop_stale(keys, start)
        keys[key] = hits
        return hits

    @staticmethod
    def _drop_stale(keys: dict[str, deque[float]], start: float) -> None:
        # Two at most per hit: more than the one key a hit can add, so idle keys cannot pile
        # up, and a hit costs the same however many keys there are.
        for _ in range(2):
            oldest = next(iter(keys), None)
            if oldest is None or (keys[oldest] and keys[oldest][-1] > start):
                return
            del keys[oldest]

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        now = self._clock()
        hits = self._hits(item, identifiers, now)
        if len(hits) + cost > item.amount:
            return False
        hits.extend([now] * cost)
        return True

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        now = self._clock()
        hits = self._hits(item, identifiers, now)
        remaining = max(0, item.amount - len(hits))
        # In wall-clock time, as `limits` answers: when the oldest hit leaves the window.
        oldest = hits[0] if hits else now
        return WindowStats(time.time() + (oldest + item.get_expiry() - now), remaining)

    def __len__(self) -> int:
        """Keys held, over every window length."""
        return sum(len(keys) for keys in self._windows.values())


def make_storage(redis_url: str | None) -> Storage | MemoryWindows:
    if not redis_url:
        return MemoryWindows()
    uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
    storage = storage_from_string(uri)
    assert isinstance(storage, Storage)
    return storage


@dataclass(frozen=True)
class RateLimiter:
    namespace: str
    item: RateLimitItem
    strategy: WindowStrategy

    @classmethod
    def create(cls, storage: Storage | MemoryWindows, namespace: str, limit: str) -> RateLimiter:
        """`limit` is in the `limits` notation, e.g. "120/minute" or "5 per 10 seconds"."""
        strategy: WindowStrategy = (
            storage if isinstance(storage, MemoryWindows) else MovingWindowRateLimiter(storage)
        )
        return cls(namespace, parse(limit), strategy)

    async def allow(self, key: str) -> bool:
        return await self.strategy.hit(self.item, self.namespace, key)

    async def hit(self, key: str) -> None:
        """Raises RateLimited (with `retry_after` seconds) when `key` is over its limit."""
        if await self.allow(key):
            return
        stats = await self.strategy.get_window_stats(self.item, self.namespace, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited("too many requests; slow down", retry_after=retry_after)
