"""Banning a user: the flag, and what they have open closed in the same transaction.

Kept apart from `services.users.service` (which the ledger and the market build on) so it may
reach into the capabilities a ban closes things in.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx
from services.market.service import close_banned_offers

# The first ban's time stays: a second ban changes nothing.
_BAN = text("UPDATE auth.users SET banned_at = now() WHERE id = :user AND banned_at IS NULL")


async def ban(session: ServiceTx, user_id: UUID) -> int:
    """Ban the user and cancel their open market offers (escrow returned); how many offers it
    closed. Fills under way on those offers finish first; later ones are refused
    (offer_maker_banned). Idempotent."""
    await session.execute(_BAN, {"user": user_id})
    return await close_banned_offers(session, maker_id=user_id)
