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


def _cause_of(item: _Redeem) -> tuple[UUID, str] | None:
    return None if item.cause is None else (item.user_id, item.cause)


class RedemptionBatcher(OnDemandBatcher[_Redeem, Redemption]):
    def __init__(self, db: Database, *, max_batch: int = 32, workers: int = 2) -> None:
        super().__init__(max_batch=max_batch, workers=workers)
        self._db = db
        # Waiting redemptions by code hash, oldest code first.
        self._waiting: dict[bytes, list[Pending[_Redeem, Redemption]]] = {}
        # (user, cause) of the redemptions in the statements running now.
        self._flight: set[tuple[UUID, str]] = set()

    async def redeem(self, hashed: bytes, user_id: UUID, cause: str | None = None) -> Redemption:
        """`services.promo.service.redeem_hash` in the next statement for this code; raises
        what it raises."""
        return await self._submit(_Redeem(hashed, user_id, cause))

    def _put(self, pending: Pending[_Redeem, Redemption]) -> None:
        self._waiting.setdefault(pending.item.hashed, []).append(pending)

    def _take(self) -> list[Pending[_Redeem, Redemption]]:
        """A worker's share of the oldest code's waiting redemptions that it can take.

        A cause (one Telegram message) goes in one statement at a time: a second delivery of
        it waits for a later statement, which answers it with the redemption the first made.
        Two statements redeeming one cause at once would wait on each other's locks in
        opposite orders (the ordinal's row, a slot) until one gave up.
        """
        for hashed, queue in list(self._waiting.items()):
            share = self.share(len(queue))
            group: list[Pending[_Redeem, Redemption]] = []
            rest: list[Pending[_Redeem, Redemption]] = []
            for pending in queue:
                cause = _cause_of(pending.item)
                if len(group) < share and (cause is None or cause not in self._flight):
                    group.append(pending)
                    if cause is not None:
                        self._flight.add(cause)
                else:
                    rest.append(pending)
            if rest:
                self._waiting[hashed] = rest
            else:
                del self._waiting[hashed]
            if group:
                return group
        return []

    def _finished(self, group: list[Pending[_Redeem, Redemption]]) -> None:
        for pending in group:
            cause = _cause_of(pending.item)
            if cause is not None:
                self._flight.discard(cause)

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
