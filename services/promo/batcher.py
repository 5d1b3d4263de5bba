"""Concurrent redemptions of one code coalesced into one statement (`gifts.redeem_promos`).

A hot code's redemptions otherwise each pay a round trip, a transaction, a pass of the ledger
function and a commit; here the ones waiting for the same code go together: each member's
rules and ordinal, then one slot for all of them and one ledger batch (void the slot's hold, a
credit each, hold the rest), one commit. A refused member (used up, already redeemed, not
eligible) is answered alone; members the slot had no uses left for are asked again in the
next statement; a statement that fails as a whole (a ledger refusal) has each member redeemed
again on its own (`gifts.redeem_promo`), each with its own outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from uuid import UUID

from db.database import Database
from services.batching import OnDemandBatcher, Pending
from services.ledger.service import run_native
from services.promo.schemas import Redemption
from services.promo.service import redeem_hash, redemption_of

log = logging.getLogger(__name__)

_BATCH = "SELECT gifts.redeem_promos($1, $2::uuid[], $3::text[])"


@dataclass(frozen=True)
class _Redeem:
    hashed: bytes
    user_id: UUID
    cause: str | None


class RedemptionBatcher(OnDemandBatcher[_Redeem, Redemption]):
    def __init__(self, db: Database, *, max_batch: int = 32, workers: int = 2) -> None:
        super().__init__(max_batch=max_batch, workers=workers)
        self._db = db
        # Waiting redemptions by code hash, oldest code first.
        self._waiting: dict[bytes, list[Pending[_Redeem, Redemption]]] = {}

    async def redeem(self, hashed: bytes, user_id: UUID, cause: str | None = None) -> Redemption:
        """`services.promo.service.redeem_hash` in the next statement for this code; raises
        what it raises."""
        return await self._submit(_Redeem(hashed, user_id, cause))

    def _put(self, pending: Pending[_Redeem, Redemption]) -> None:
        self._waiting.setdefault(pending.item.hashed, []).append(pending)

    def _take(self) -> list[Pending[_Redeem, Redemption]]:
        """A worker's share of the oldest code's waiting redemptions. A cause already taken
        (Telegram delivered one message twice at once) waits for the next statement, which
        answers it with the redemption this one makes."""
        if not self._waiting:
            return []
        hashed, queue = next(iter(self._waiting.items()))
        share = self.share(len(queue))
        group: list[Pending[_Redeem, Redemption]] = []
        rest: list[Pending[_Redeem, Redemption]] = []
        causes: set[tuple[UUID, str]] = set()
        for pending in queue:
            item = pending.item
            cause = None if item.cause is None else (item.user_id, item.cause)
            if len(group) < share and cause not in causes:
                group.append(pending)
                if cause is not None:
                    causes.add(cause)
            else:
                rest.append(pending)
        if rest:
            self._waiting[hashed] = rest
        else:
            del self._waiting[hashed]
        return group

    async def _run(self, group: list[Pending[_Redeem, Redemption]]) -> None:
        if len(group) == 1:
            await self._alone(group[0])
            return
        hashed = group[0].item.hashed
        try:
            async with self._db.statement() as conn:
                answers = await run_native(
                    conn,
                    _BATCH,
                    hashed,
                    [p.item.user_id for p in group],
                    [p.item.cause for p in group],
                )
        except Exception:
            log.exception("a batch of %d redemptions failed; redeeming each alone", len(group))
            await asyncio.gather(*(self._alone(p) for p in group))
            return
        self.batched += len(group)
        for pending, raw in zip(group, answers, strict=True):
            answer = json.loads(raw) if isinstance(raw, str) else raw
            if answer["result"] == "retry":
                # The slot it took had fewer uses left than the batch: the next statement.
                self._put(pending)
                continue
            try:
                pending.answer(redemption_of(answer))
            except Exception as error:
                pending.fail(error)

    async def _alone(self, pending: Pending[_Redeem, Redemption]) -> None:
        self.alone += 1
        try:
            async with self._db.statement() as conn:
                item = pending.item
                result = await redeem_hash(conn, item.hashed, item.user_id, item.cause)
        except Exception as error:
            pending.fail(error)
        else:
            pending.answer(result)
