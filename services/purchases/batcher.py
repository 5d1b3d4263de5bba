"""Concurrent Stars payments credited together, in one statement (`tokens.credit_purchases`).

A purchase is the heaviest write the platform makes: the purchase row, a ledger group of up to
ten transfers (credit, debt settlements, eight reward holds), one reward event, eight totals
and the events. One at a time, a purchase was eleven round trips inside an open transaction,
and the server spent most of it waiting for the client's next statement. Here the payments
waiting at the same moment go together: one round trip, one pass of the ledger function, one
commit; each payment stays its own linked ledger group, so one that the ledger refuses is
answered alone and the others are credited.

A statement that fails as a whole (data PostgreSQL refused) is split until the payment that
fails it is alone; a payment already credited by a half answers `exists` in the other, so the
halves are safe to run. Serialization failures, deadlocks and a lost connection are retried:
a statement either committed (its payments then answer `exists`) or changed nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from db.availability import database_unavailable
from db.database import Database
from services.batching import OnDemandBatcher, Pending
from services.purchases.service import (
    SALES_SHARDS,
    Credit,
    Payment,
    PurchaseConfig,
    credit_of,
    credit_payments,
    shard_of,
)

log = logging.getLogger(__name__)

_RETRYABLE = ("40001", "40P01")
_ATTEMPTS = 3


class PurchaseBatcher(OnDemandBatcher[Payment, Credit]):
    def __init__(
        self, db: Database, config: PurchaseConfig, *, max_batch: int = 64, workers: int = 2
    ) -> None:
        super().__init__(max_batch=max_batch, workers=workers)
        self._db = db
        self._config = config
        self._waiting: list[Pending[Payment, Credit]] = []
        # Payments per shard in the statements running now.
        self._shards: Counter[int] = Counter()

    async def credit(self, payment: Payment) -> Credit:
        """`services.purchases.service.credit_purchase` in the next statement, on its own
        transaction; raises what it raises."""
        return await self._submit(payment)

    def _put(self, pending: Pending[Payment, Credit]) -> None:
        self._waiting.append(pending)

    def _take(self) -> list[Pending[Payment, Credit]]:
        """The oldest waiting payments, a worker's share; a charge id already taken (Telegram
        delivered it twice at once) waits for the next statement, which answers `exists`.

        A payment whose shard (of the sales and rewards accounts) a running statement holds
        waits for the next statement too: two statements that shared a shard account would
        queue on its row lock until the first one's commit, and run one after the other. A
        worker takes its part of the free shards, so the next worker finds some.
        """
        share = self.share(len(self._waiting))
        # The shards no statement holds, split like the payments among the idle workers: one
        # worker taking payments of every shard would leave the others nothing to run.
        idle = max(1, self._running - self._busy)
        shards = -(-(SALES_SHARDS - len(+self._shards)) // idle)
        group: list[Pending[Payment, Credit]] = []
        later: list[Pending[Payment, Credit]] = []
        charges: set[str] = set()
        mine: set[int] = set()
        for pending in self._waiting:
            payment = pending.item
            shard = shard_of(payment)
            if (
                len(group) < share
                and payment.charge_id not in charges
                and self._shards[shard] == 0
                and (shard in mine or len(mine) < shards)
            ):
                group.append(pending)
                charges.add(payment.charge_id)
                mine.add(shard)
            else:
                later.append(pending)
        self._waiting = later
        for pending in group:
            self._shards[shard_of(pending.item)] += 1
        return group

    def _finished(self, group: list[Pending[Payment, Credit]]) -> None:
        for pending in group:
            self._shards[shard_of(pending.item)] -= 1

    async def _run(self, group: list[Pending[Payment, Credit]]) -> None:
        try:
            answers = await self._execute([p.item for p in group])
        except Exception as error:
            if len(group) > 1 and not database_unavailable(error):
                log.warning("a batch of %d payments failed, isolating: %r", len(group), error)
                half = len(group) // 2
                await self._run(group[:half])
                await self._run(group[half:])
                return
            for pending in group:
                pending.fail(error)
            return
        if len(group) > 1:
            self.batched += len(group)
        else:
            self.alone += 1
        for pending, answer in zip(group, answers, strict=True):
            try:
                pending.answer(credit_of(answer))
            except Exception as error:
                pending.fail(error)

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
