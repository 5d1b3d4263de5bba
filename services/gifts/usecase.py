"""Gifts as use cases, the same for the bot and the API: one transaction each."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from db.database import Database
from db.models import User
from services.gifts import service
from services.gifts.errors import GiftNotFound, ShareUnavailable
from services.gifts.schemas import Claim, Gift, GiftKind, Preview, Split
from services.gifts.sharing import ShareGateway, ShareMessage
from services.ledger.limits import check_amount
from services.ledger.schemas import Asset
from services.ledger.service import AssetRegistry
from services.transfers.config import P2PRules
from services.transfers.errors import AssetNotTransferable
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
    # GIFT_LINK_KEY: derives each link's secret from its id (services/gifts/service.py). A
    # random key still makes claimable links; only re-offering them after a restart needs a
    # kept one.
    link_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Prepares messages for the Mini App's shareMessage; None without a bot.
    share: ShareGateway | None = None

    def link(self, secret: str) -> str:
        return f"https://t.me/{self.bot_username}?start=gift_{secret}"

    def app_link(self, secret: str) -> str:
        """The same claim in the Mini App: it opens with start_param `gift_<secret>`."""
        return f"https://t.me/{self.bot_username}?startapp=gift_{secret}"

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
                link_key=self.link_key,
            )

    async def asset(self, code: str) -> Asset:
        """A giftable asset. Raises AssetNotFound, AssetNotTransferable."""
        async with self.db.service() as session:
            found = await self.assets.get(session, code)
        if not found.transferable:
            raise AssetNotTransferable("this asset cannot be sent", asset=found.code)
        return found

    @staticmethod
    def check_amount(asset: Asset, amount: int) -> None:
        """Within what one gift may hold. Raises InvalidAmount, AmountTooLarge."""
        check_amount(asset, amount)

    async def claim(self, *, claimer: User, secret: str) -> Claim:
        """Raises what `service.claim` raises."""
        async with self.db.service() as session:
            return await service.claim(session, claimer=claimer, secret=secret)

    async def preview(self, *, viewer: User, secret: str) -> Preview:
        """Raises what `service.preview` raises."""
        async with self.db.service() as session:
            return await service.preview(session, viewer=viewer, secret=secret)

    async def open_links(self, creator: User, *, limit: int = 20) -> list[Gift]:
        """The creator's open links and packets with their secrets, newest first."""
        async with self.db.service() as session:
            return await service.open_links(
                session, creator=creator, link_key=self.link_key, limit=limit
            )

    async def open_link(self, creator: User, gift_id: UUID) -> Gift:
        """One of the creator's open links or packets, with its secret. Raises GiftNotFound."""
        async with self.db.service() as session:
            found = await service.open_links(
                session, creator=creator, link_key=self.link_key, gift_id=gift_id
            )
        if not found:
            raise GiftNotFound("no such open gift link")
        return found[0]

    async def prepare_share(self, creator: User, message: ShareMessage) -> str:
        """A prepared message id for shareMessage. Raises ShareUnavailable."""
        if self.share is None:
            raise ShareUnavailable("no bot to prepare the message")
        return await self.share.prepare(telegram_id=creator.telegram_id, message=message)

    async def cancel(self, *, creator: User, gift_id: UUID) -> Gift:
        async with self.db.service() as session:
            return await service.cancel(session, creator=creator, gift_id=gift_id)

    async def list_for(self, user: User) -> list[Gift]:
        async with self.db.service() as session:
            return await service.list_for(session, user)
