"""Requests that wait at the same moment answered by one statement: the workers' bookkeeping
shared by the batchers that start on demand (`services/promo/batcher.py`,
`services/purchases/batcher.py`).

A caller's request waits as a `Pending`, holding no connection. Workers start when requests
wait and stop when none do, so there is nothing to close; two at most by default: while one
statement waits for its commit's flush, the other computes. A worker takes its share of what
waits (`share`), leaving the idle workers theirs.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Pending(Generic[T, R]):
    """One caller's request and the answer it awaits."""

    item: T
    done: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def answer(self, result: R) -> None:
        if not self.done.done():  # else the caller went away; what was done stands
            self.done.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


class OnDemandBatcher(ABC, Generic[T, R]):
    def __init__(self, *, max_batch: int, workers: int) -> None:
        self._max_batch = max_batch
        self._workers = workers
        self._running = 0
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Requests answered by a statement of several, and by one of their own: what the tests
        # and the benches read to see the batching happen.
        self.batched = 0
        self.alone = 0

    async def _submit(self, item: T) -> R:
        """Queue `item` (`_put`), make sure a worker will take it, await its answer."""
        pending: Pending[T, R] = Pending(item)
        self._put(pending)
        if self._running < self._workers:
            self._running += 1
            task = asyncio.create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await pending.done

    def share(self, waiting: int) -> int:
        """How many of `waiting` requests one worker takes now: an even part for the workers
        not busy, at most `max_batch`."""
        free = max(1, self._running - self._busy)
        return min(self._max_batch, -(-waiting // free))

    async def _work(self) -> None:
        try:
            while group := self._take():
                self._busy += 1
                try:
                    await self._run(group)
                finally:
                    self._busy -= 1
                    self._finished(group)
        finally:
            self._running -= 1

    @abstractmethod
    def _put(self, pending: Pending[T, R]) -> None:
        """Add a request to what waits."""

    @abstractmethod
    def _take(self) -> list[Pending[T, R]]:
        """The next group for one statement; empty when nothing waits."""

    @abstractmethod
    async def _run(self, group: list[Pending[T, R]]) -> None:
        """Answer every member of `group` (`Pending.answer` or `Pending.fail`)."""

    def _finished(self, group: list[Pending[T, R]]) -> None:
        """`group`'s statement ended (whatever its outcome): what `_take` reserved for it is
        free again."""
