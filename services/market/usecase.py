"""The market as one use case both doors call: each operation one service transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from db.database import Database
from db.models import User
from services.ledger.amounts import parse_amount
from services.ledger.service import AssetRegistry
from services.market.config import MarketRules
from services.market.errors import (
    FillBelowMinimum,
    FillExceedsOffer,
    OfferNotOpen,
    SelfTrade,
)
from services.market.pricing import FillTerms, fill_terms
from services.market.schemas import FillOut, OfferOut
from services.market.service import (
    FillRaced,
    OfferPage,
    book,
    cancel_offer,
    create_offer,
    fill_offer,
    find_fill,
    get_offer,
    my_offers,
    open_pairs,
    replayed_fill,
)


@dataclass(frozen=True)
class Quote:
    """What a fill of `terms.amount` from `offer` would move, as the offer stands now."""

    offer: OfferOut
    terms: FillTerms


@dataclass(frozen=True)
class Market:
    db: Database
    rules: MarketRules
    assets: AssetRegistry

    async def create(
        self,
        *,
        maker: User,
        offer_id: UUID,
        sell_asset: str,
        sell_amount: int,
        buy_asset: str,
        buy_amount: int,
        min_fill: int | None = None,
    ) -> OfferOut:
        """Raises AssetNotFound and what `service.create_offer` raises."""
        async with self.db.service() as session:
            sell = await self.assets.get(session, sell_asset)
            buy = await self.assets.get(session, buy_asset)
            return await create_offer(
                session,
                self.rules,
                self.assets,
                maker=maker,
                offer_id=offer_id,
                sell=sell,
                buy=buy,
                sell_amount=sell_amount,
                buy_amount=buy_amount,
                min_fill=min_fill,
            )

    async def create_human(
        self,
        *,
        maker: User,
        offer_id: UUID,
        sell_asset: str,
        sell_amount: str,
        buy_asset: str,
        buy_amount: str,
        min_fill: str | None = None,
    ) -> OfferOut:
        """`create` with human amounts (`10.5`), each in its own asset's unit; `min_fill` in the
        sell asset's. Raises what `parse_amount` and `create` raise."""
        async with self.db.statement() as conn:
            sell = await self.assets.get(conn, sell_asset)
            buy = await self.assets.get(conn, buy_asset)
        return await self.create(
            maker=maker,
            offer_id=offer_id,
            sell_asset=sell.code,
            sell_amount=parse_amount(sell_amount, sell.decimals),
            buy_asset=buy.code,
            buy_amount=parse_amount(buy_amount, buy.decimals),
            min_fill=None if min_fill is None else parse_amount(min_fill, sell.decimals),
        )

    async def pairs(self) -> list[tuple[str, str, int]]:
        async with self.db.service() as session:
            return await open_pairs(session)

    async def fill(self, *, taker: User, fill_id: UUID, offer_id: UUID, amount: int) -> FillOut:
        """Raises what `service.fill_offer` raises, except FillRaced: a fill with the same id
        that committed first is answered instead."""
        try:
            async with self.db.service() as session:
                return await fill_offer(
                    session,
                    self.rules,
                    self.assets,
                    taker=taker,
                    fill_id=fill_id,
                    offer_id=offer_id,
                    amount=amount,
                )
        except FillRaced:
            async with self.db.service() as session:
                row = await find_fill(session, fill_id)
                assert row is not None  # it committed before ours tried to record
                assets = await self.assets.all(session)
                return replayed_fill(row, assets, taker, offer_id, amount)

    async def quote(self, *, taker: User, offer_id: UUID, amount: str | None) -> Quote:
        """A fill's terms before it is confirmed: `amount` human, in the offer's sell asset
        (None: all that is left). Checks what the fill itself will check again.

        Raises OfferNotFound, OfferNotOpen, SelfTrade, FillExceedsOffer, FillBelowMinimum and
        what `parse_amount` raises."""
        offer = await self.get(viewer=taker, offer_id=offer_id)
        if offer.mine:
            raise SelfTrade("you cannot fill your own offer")
        if offer.status != "open" or offer.expires_at <= datetime.now(UTC):
            raise OfferNotOpen("the offer is no longer open", status=offer.status)
        remaining, minimum = int(offer.remaining), int(offer.min_fill)
        units = remaining if amount is None else parse_amount(amount, offer.sell_decimals)
        if units > remaining:
            raise FillExceedsOffer("more than the offer has left", remaining=str(remaining))
        if units < minimum and units != remaining:
            raise FillBelowMinimum(
                "less than the offer's minimum fill",
                min_fill=str(minimum),
                remaining=str(remaining),
            )
        sell, buy = int(offer.sell_amount), int(offer.buy_amount)
        return Quote(offer, fill_terms(units, sell=sell, buy=buy, fee_bps=self.rules.fee_bps))

    async def get(self, *, viewer: User | None, offer_id: UUID) -> OfferOut:
        """Raises OfferNotFound."""
        async with self.db.service() as session:
            viewer_id = viewer.id if viewer is not None else None
            return await get_offer(session, self.assets, viewer_id=viewer_id, offer_id=offer_id)

    async def cancel(self, *, maker: User, offer_id: UUID) -> OfferOut:
        """Raises OfferNotFound, OfferNotOpen."""
        async with self.db.service() as session:
            return await cancel_offer(session, self.assets, maker=maker, offer_id=offer_id)

    async def book(
        self,
        *,
        viewer: User | None,
        sell_asset: str,
        buy_asset: str,
        cursor: str | None = None,
        limit: int = 20,
    ) -> OfferPage:
        """Raises AssetNotFound, InvalidCursor."""
        async with self.db.service() as session:
            sell = await self.assets.get(session, sell_asset)
            buy = await self.assets.get(session, buy_asset)
            return await book(
                session,
                self.assets,
                viewer_id=viewer.id if viewer is not None else None,
                sell=sell,
                buy=buy,
                cursor=cursor,
                limit=limit,
            )

    async def mine(
        self, *, maker: User, status: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> OfferPage:
        """Raises InvalidCursor."""
        async with self.db.service() as session:
            return await my_offers(
                session, self.assets, maker_id=maker.id, status=status, cursor=cursor, limit=limit
            )
