"""Scheduled work of Stars purchases: Telegram's record of the bot's Star transactions read
against ours (`reconcile_stars`).

A `successful_payment` update is the only news of a payment, and Telegram sends it once: a
webhook answered before the credit ran, a credit that failed (the database away), a process
killed in between, and the Stars are taken with nothing credited. A `refunded_payment` is
the same for a refund Telegram makes on its own. `getStarTransactions` lists every payment
and refund, oldest first, with the payment's charge id, payload and payer: reading it after
the last transaction settled here, a payment with no purchase row is credited (through the
same batcher, keyed on the same charge id, so a late update or a second reader pays once)
and a refund of a purchase still paid is recorded.

Any number of instances schedule it; `tokens.stars_sync`'s lease lets one read at a time,
and its `seen` moves only past transactions settled, so a failure is read again next run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text

from db.models import User
from services.errors import DomainError
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS
from services.notifications.service import enqueue
from services.purchases.schemas import CURRENCY, StarsTransaction
from services.purchases.service import CREDITED
from services.purchases.usecase import Purchases

log = logging.getLogger(__name__)

PAGE = 100  # getStarTransactions' most per call
LEASE_SECONDS = 300

_LEASE = text(
    """
    UPDATE tokens.stars_sync
       SET lease_until = now() + make_interval(secs => :seconds), holder = :me,
           updated_at = now()
     WHERE id AND (lease_until IS NULL OR lease_until < now())
    RETURNING seen
    """
)
_ADVANCE = text(
    """
    UPDATE tokens.stars_sync
       SET seen = :seen, lease_until = now() + make_interval(secs => :seconds),
           updated_at = now()
     WHERE id AND holder = :me
    """
)
_RELEASE = text("UPDATE tokens.stars_sync SET lease_until = NULL WHERE id AND holder = :me")
_KNOWN = text(
    "SELECT charge_id, status FROM tokens.purchases WHERE charge_id = ANY(CAST(:ids AS text[]))"
)


@dataclass(frozen=True)
class Reconciled:
    """What one run found missing and settled."""

    credited: int = 0
    refunded: int = 0


async def reconcile_stars(purchases: Purchases, *, page: int = PAGE) -> Reconciled:
    """Settle every Star transaction listed since the last run; returns what was missing."""
    if purchases.stars is None:
        return Reconciled()
    me = uuid.uuid4()
    async with purchases.db.service() as session:
        seen = await session.scalar(_LEASE, {"seconds": LEASE_SECONDS, "me": me})
    if seen is None:
        return Reconciled()  # another instance is reading
    credited = refunded = 0
    try:
        while True:
            listed = await purchases.stars.transactions(offset=seen, limit=page)
            settled, c, r = await _settle(purchases, listed)
            credited, refunded, seen = credited + c, refunded + r, seen + settled
            async with purchases.db.service() as session:
                await session.execute(_ADVANCE, {"seen": seen, "seconds": LEASE_SECONDS, "me": me})
            if settled < len(listed) or len(listed) < page:
                break
    finally:
        async with purchases.db.service() as session:
            await session.execute(_RELEASE, {"me": me})
    if credited or refunded:
        log.warning(
            "Stars reconciliation: credited %d payments and recorded %d refunds whose updates"
            " never took effect",
            credited,
            refunded,
        )
    return Reconciled(credited, refunded)


async def _settle(purchases: Purchases, listed: Sequence[StarsTransaction]) -> tuple[int, int, int]:
    """Settle `listed` in order; returns how many were settled before one that could not be
    now (it is read again next run), and how many payments and refunds were missing."""
    ours = [t for t in listed if t.kind != "other"]
    async with purchases.db.service() as session:
        known: dict[str, str] = {
            r.charge_id: r.status
            for r in (await session.execute(_KNOWN, {"ids": [t.charge_id for t in ours]}))
        }
        payers = [t.telegram_id for t in ours if t.kind == "payment" and t.charge_id not in known]
        buyers = {
            u.telegram_id: u
            for u in (await session.scalars(select(User).where(User.telegram_id.in_(payers))))
        }
    credited = refunded = 0
    for done, t in enumerate(listed):
        try:
            if t.kind == "payment" and t.charge_id not in known:
                buyer = buyers.get(t.telegram_id or 0)
                if buyer is None:
                    log.error("Star payment %s from unknown user %s", t.charge_id, t.telegram_id)
                    continue
                credit = await purchases.credit(
                    buyer,
                    charge_id=t.charge_id,
                    payload=t.payload or "",
                    currency=CURRENCY,
                    total=t.stars,
                )
                known[t.charge_id] = "paid"
                if not credit.replayed:
                    credited += 1
                    async with purchases.db.service() as session:
                        await enqueue(
                            session,
                            chat_id=buyer.telegram_id,
                            user_id=buyer.id,
                            template=CREDITED,
                            params={"vibe": format_amount(credit.vibe, DEFAULT_ASSET_DECIMALS)},
                            dedup_key=f"stars_credit:{t.charge_id}",
                        )
            elif t.kind == "refund" and known.get(t.charge_id) == "paid":
                refund = await purchases.refunded(t.charge_id)
                known[t.charge_id] = "refunded"
                refunded += 0 if refund.replayed else 1
        except DomainError as error:
            # Not ours, or refused for good (a payload we never wrote): reading it again
            # changes nothing, so it is left to a person.
            log.error("Star transaction %s (%s) cannot be settled: %r", t.charge_id, t.kind, error)
        except Exception as error:  # the database or Telegram away: the next run retries
            log.warning("Star transaction %s (%s) not settled yet: %r", t.charge_id, t.kind, error)
            return done, credited, refunded
    return len(listed), credited, refunded
