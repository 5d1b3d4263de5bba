"""Moving-window rate limits per key, in memory, or in Redis when several instances share them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from services.errors import RateLimited


def make_storage(redis_url: str | None) -> Storage:
    if redis_url:
        uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
    else:
        uri = "async+memory://"
    storage = storage_from_string(uri)
    assert isinstance(storage, Storage)
    return storage


@dataclass(frozen=True)
class RateLimiter:
    namespace: str
    item: RateLimitItem
    strategy: MovingWindowRateLimiter

    @classmethod
    def create(cls, storage: Storage, namespace: str, limit: str) -> RateLimiter:
        """`limit` is in the `limits` notation, e.g. "120/minute" or "5 per 10 seconds"."""
        return cls(namespace, parse(limit), MovingWindowRateLimiter(storage))

    async def allow(self, key: str) -> bool:
        return await self.strategy.hit(self.item, self.namespace, key)

    async def hit(self, key: str) -> None:
        """Raises RateLimited (with `retry_after` seconds) when `key` is over its limit."""
        if await self.allow(key):
            return
        stats = await self.strategy.get_window_stats(self.item, self.namespace, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited("too many requests; slow down", retry_after=retry_after)
