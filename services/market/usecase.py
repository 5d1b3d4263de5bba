"""The market as one use case both doors call: each operation one service transaction."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from db.database import Database
from db.models import User
from services.ledger.service import AssetRegistry
from services.market.config import MarketRules
from services.market.schemas import FillOut, OfferOut
from services.market.service import (
    FillRaced,
    OfferPage,
    book,
    cancel_offer,
    create_offer,
    fill_offer,
    fill_out,
    find_fill,
    my_offers,
)


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
                assert row is not None  # it committed before ours rolled back
                return fill_out(row, await self.assets.all(session))

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
