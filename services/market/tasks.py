"""Offer expiry: open offers past `expires_at` are closed and their escrow returned, once;
so are the open offers of banned makers (a ban closes them in its own transaction; this
catches a ban made any other way, and offers a fill held while the ban looked).

Any number of instances may run it at once: each claims due offers with SKIP LOCKED (a row a
fill or a cancel holds is skipped, and one they closed no longer matches), and closes them and
voids their holds in one transaction, so an offer is expired by exactly one of them.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from db.database import Database
from services.ledger.schemas import ResolveHold
from services.ledger.service import apply, transfer_id
from services.market.service import close_banned_offers, hold_id

log = logging.getLogger(__name__)

_EXPIRE = text(
    """
    WITH due AS (
        SELECT id FROM market.offers
         WHERE status = 'open' AND expires_at <= now()
         ORDER BY expires_at
         LIMIT :limit
           FOR UPDATE SKIP LOCKED
    )
    UPDATE market.offers o SET status = 'expired', closed_at = now()
      FROM due WHERE o.id = due.id
    RETURNING o.id, o.fills
    """
)


async def expire_offers(db: Database, *, batch_size: int = 200) -> int:
    """Expire every due offer; returns how many this call expired."""
    expired = 0
    while True:
        async with db.service() as session:
            rows = (await session.execute(_EXPIRE, {"limit": batch_size})).all()
            if rows:
                await apply(
                    session,
                    [
                        ResolveHold(
                            id=transfer_id("market_expire", row.id),
                            pending_id=hold_id(row.id, row.fills),
                            kind="void",
                            metadata={"offer": str(row.id)},
                        )
                        for row in rows
                    ],
                )
        expired += len(rows)
        if rows:
            log.info("expired %d market offers", len(rows))
        if len(rows) < batch_size:
            break
    while True:
        async with db.service() as session:
            closed = await close_banned_offers(session, limit=batch_size)
        if closed:
            log.info("cancelled %d market offers of banned makers", closed)
        if closed < batch_size:
            return expired
