"""Concurrent Stars payments credited together, in one statement (`tokens.credit_purchases`).

A purchase is the heaviest write the platform makes: the purchase row, a ledger group of up to
ten transfers (credit, debt settlements, eight reward holds), eight reward rows, eight totals
and the events. One at a time, a purchase was eleven round trips inside an open transaction,
and the server spent most of it waiting for the client's next statement. Here the payments
waiting at the same moment go together: one round trip, one pass of the ledger function, one
commit; each payment stays its own linked ledger group, so one that the ledger refuses is
answered alone and the others are credited.

A statement that fails as a whole (data PostgreSQL refused) is split until the payment that
fails it is alone; a payment already credited by a half answers `exists` in the other, so the
halves are safe to run. Serialization failures, deadlocks and a lost connection are retried:
a statement either committed (its payments then answer `exists`) or changed nothing.

Workers start when payments wait and stop when none do: nothing to close. Two at most by
default: while one statement waits for its commit's flush, the other computes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from db.availability import database_unavailable
from db.database import Database
from services.purchases.service import (
    Credit,
    Payment,
    PurchaseConfig,
    credit_of,
    credit_payments,
)

log = logging.getLogger(__name__)

_RETRYABLE = ("40001", "40P01")
_ATTEMPTS = 3


@dataclass
class _Pending:
    payment: Payment
    done: asyncio.Future[Credit] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PurchaseBatcher:
    def __init__(
        self, db: Database, config: PurchaseConfig, *, max_batch: int = 64, workers: int = 2
    ) -> None:
        self._db = db
        self._config = config
        self._max_batch = max_batch
        self._workers = workers
        self._waiting: list[_Pending] = []
        self._running = 0
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Payments answered by a statement of several, and by one of their own: what the tests
        # and the bench read to see the batching happen.
        self.batched = 0
        self.alone = 0

    async def credit(self, payment: Payment) -> Credit:
        """`services.purchases.service.credit_purchase` in the next statement, on its own
        transaction; raises what it raises."""
        pending = _Pending(payment)
        self._waiting.append(pending)
        if self._running < self._workers:
            self._running += 1
            task = asyncio.create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await pending.done

    def _take(self) -> list[_Pending]:
        """The oldest waiting payments, shared with the workers not busy (a worker that wakes
        up to many leaves the idle ones their part); a charge id already taken (Telegram
        delivered it twice at once) waits for the next statement, which answers `exists`."""
        free = max(1, self._running - self._busy)
        share = min(self._max_batch, -(-len(self._waiting) // free))
        group: list[_Pending] = []
        later: list[_Pending] = []
        charges: set[str] = set()
        for pending in self._waiting:
            if len(group) < share and pending.payment.charge_id not in charges:
                group.append(pending)
                charges.add(pending.payment.charge_id)
            else:
                later.append(pending)
        self._waiting = later
        return group

    async def _work(self) -> None:
        try:
            while self._waiting:
                group = self._take()
                self._busy += 1
                try:
                    await self._submit(group)
                finally:
                    self._busy -= 1
        finally:
            self._running -= 1

    async def _submit(self, group: list[_Pending]) -> None:
        try:
            answers = await self._execute([p.payment for p in group])
        except Exception as error:
            if len(group) > 1 and not database_unavailable(error):
                log.warning("a batch of %d payments failed, isolating: %r", len(group), error)
                half = len(group) // 2
                await self._submit(group[:half])
                await self._submit(group[half:])
                return
            for pending in group:
                _settle(pending, error=error)
            return
        if len(group) > 1:
            self.batched += len(group)
        else:
            self.alone += 1
        for pending, answer in zip(group, answers, strict=True):
            try:
                _settle(pending, result=credit_of(answer))
            except Exception as error:
                _settle(pending, error=error)

    async def _execute(self, payments: list[Payment]) -> list[dict[str, Any]]:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._db.statement() as conn:
                    return await credit_payments(conn, self._config, payments)
            except Exception as error:
                retry = (
                    database_unavailable(error) or getattr(error, "sqlstate", None) in _RETRYABLE
                )
                if attempt == _ATTEMPTS or not retry:
                    raise
                log.info("retrying a batch of %d payments after %r", len(payments), error)
        raise AssertionError("unreachable")


def _settle(
    pending: _Pending, *, result: Credit | None = None, error: BaseException | None = None
) -> None:
    if pending.done.done():  # the caller went away; the credit stands, replayable
        return
    if error is not None:
        pending.done.set_exception(error)
    else:
        assert result is not None
        pending.done.set_result(result)
