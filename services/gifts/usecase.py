"""Gifts as use cases, the same for the bot and the API: one transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from db.database import Database
from db.models import User
from services.gifts import service
from services.gifts.schemas import Claim, Gift, GiftKind, Split
from services.ledger.service import AssetRegistry
from services.transfers.config import P2PRules
from services.transfers.service import resolve_recipient


@dataclass(frozen=True)
class Gifts:
    db: Database
    assets: AssetRegistry
    # GIFT_TTL_DAYS: an unclaimed link or packet is voided back to its creator after this.
    ttl: timedelta
    # The bot's @username, for `https://t.me/<bot>?start=gift_<secret>` links.
    bot_username: str
    # The P2P rules: a gift counts on the sender's P2P daily limit.
    p2p: P2PRules

    def link(self, secret: str) -> str:
        return f"https://t.me/{self.bot_username}?start=gift_{secret}"

    async def create(
        self,
        *,
        creator: User,
        gift_id: UUID,
        kind: GiftKind,
        asset: str,
        amount: int,
        recipient: str | None = None,
        shares: int = 1,
        split: Split = "equal",
        message: str | None = None,
    ) -> Gift:
        """Raises AssetNotFound, what `resolve_recipient` and `service.create` raise."""
        async with self.db.service() as session:
            found = await self.assets.get(session, asset)
            to = await resolve_recipient(session, recipient) if recipient else None
            return await service.create(
                session,
                gift_id=gift_id,
                creator=creator,
                kind=kind,
                asset=found,
                amount=amount,
                recipient=to,
                shares=shares,
                split=split,
                message=message,
                ttl=self.ttl,
                daily_limit=self.p2p.daily_limit_units(found),
            )

    async def claim(self, *, claimer: User, secret: str) -> Claim:
        """Raises what `service.claim` raises."""
        async with self.db.service() as session:
            return await service.claim(session, claimer=claimer, secret=secret)

    async def cancel(self, *, creator: User, gift_id: UUID) -> Gift:
        async with self.db.service() as session:
            return await service.cancel(session, creator=creator, gift_id=gift_id)

    async def list_for(self, user: User) -> list[Gift]:
        async with self.db.service() as session:
            return await service.list_for(session, user)
