"""Concurrent redemptions of one code coalesced into one statement (`gifts.redeem_promos`).

A hot code's redemptions otherwise each pay a round trip, a transaction, a pass of the ledger
function and a commit; here the ones waiting for the same code go together: each member's
rules and ordinal, then one slot for all of them and one ledger batch (void the slot's hold, a
credit each, hold the rest), one commit. A refused member (used up, already redeemed, not
eligible) is answered alone; members the slot had no uses left for are asked again in the
next statement; a statement that fails as a whole (a ledger refusal) has each member redeemed
again on its own (`gifts.redeem_promo`), each with its own outcome.

Workers start when redemptions wait and stop when none do: nothing to close. Two at most by
default: while one statement waits for its commit's flush, the other computes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from uuid import UUID

from db.database import Database
from services.ledger.service import run_native
from services.promo.schemas import Redemption
from services.promo.service import redeem_hash, redemption_of

log = logging.getLogger(__name__)

_BATCH = "SELECT gifts.redeem_promos($1, $2::uuid[])"


@dataclass
class _Pending:
    user_id: UUID
    done: asyncio.Future[Redemption] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RedemptionBatcher:
    def __init__(self, db: Database, *, max_batch: int = 32, workers: int = 2) -> None:
        self._db = db
        self._max_batch = max_batch
        self._workers = workers
        # Waiting redemptions by code hash, oldest code first.
        self._waiting: dict[bytes, list[_Pending]] = {}
        self._running = 0
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Redemptions answered by a statement of several, and by one of their own: what the
        # tests and the bench read to see the batching happen.
        self.batched = 0
        self.alone = 0

    async def redeem(self, hashed: bytes, user_id: UUID) -> Redemption:
        """`services.promo.service.redeem_hash` in the next statement for this code; raises
        what it raises."""
        pending = _Pending(user_id)
        self._waiting.setdefault(hashed, []).append(pending)
        if self._running < self._workers:
            self._running += 1
            task = asyncio.create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await pending.done

    def _take(self) -> tuple[bytes, list[_Pending]]:
        """The oldest code's waiting redemptions, shared with the workers not busy: a worker
        that wakes up to many leaves the idle ones their part."""
        hashed, queue = next(iter(self._waiting.items()))
        free = max(1, self._running - self._busy)
        share = min(self._max_batch, -(-len(queue) // free))
        group, rest = queue[:share], queue[share:]
        if rest:
            self._waiting[hashed] = rest
        else:
            del self._waiting[hashed]
        return hashed, group

    async def _work(self) -> None:
        try:
            while self._waiting:
                hashed, group = self._take()
                self._busy += 1
                try:
                    await self._redeem(hashed, group)
                finally:
                    self._busy -= 1
        finally:
            self._running -= 1

    async def _redeem(self, hashed: bytes, group: list[_Pending]) -> None:
        if len(group) == 1:
            await self._alone(hashed, group[0])
            return
        try:
            async with self._db.statement() as conn:
                answers = await run_native(conn, _BATCH, hashed, [p.user_id for p in group])
        except Exception:
            log.exception("a batch of %d redemptions failed; redeeming each alone", len(group))
            await asyncio.gather(*(self._alone(hashed, p) for p in group))
            return
        self.batched += len(group)
        for pending, raw in zip(group, answers, strict=True):
            answer = json.loads(raw) if isinstance(raw, str) else raw
            if answer["result"] == "retry":
                # The slot it took had fewer uses left than the batch: the next statement.
                self._waiting.setdefault(hashed, []).append(pending)
                continue
            try:
                _settle(pending, result=redemption_of(answer))
            except Exception as error:
                _settle(pending, error=error)

    async def _alone(self, hashed: bytes, pending: _Pending) -> None:
        self.alone += 1
        try:
            async with self._db.statement() as conn:
                result = await redeem_hash(conn, hashed, pending.user_id)
        except Exception as error:
            _settle(pending, error=error)
        else:
            _settle(pending, result=result)


def _settle(
    pending: _Pending, *, result: Redemption | None = None, error: BaseException | None = None
) -> None:
    if pending.done.done():  # the caller went away
        return
    if error is not None:
        pending.done.set_exception(error)
    else:
        assert result is not None
        pending.done.set_result(result)
