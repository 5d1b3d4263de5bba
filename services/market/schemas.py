"""What the market answers: offers and fills, amounts as unit strings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.ledger.schemas import Units

OfferStatus = Literal["open", "filled", "cancelled", "expired"]


class OfferOut(BaseModel):
    id: UUID
    sell_asset: str
    sell_decimals: int
    buy_asset: str
    buy_decimals: int
    sell_amount: Units = Field(description="Offered in total, in the sell asset's smallest unit")
    buy_amount: Units = Field(
        description="Asked for `sell_amount`, in the buy asset's smallest unit; the price is "
        "the exact ratio buy_amount / sell_amount"
    )
    remaining: Units = Field(description="Still offered (escrowed), in sell units")
    min_fill: Units = Field(
        description="Smallest fill in sell units, except the last one, which takes the rest"
    )
    received: Units = Field(description="Paid to the maker so far, in buy units")
    fills: int
    status: OfferStatus
    mine: bool = Field(description="Whether the signed-in user made this offer")
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None


class FillOut(BaseModel):
    id: UUID
    offer_id: UUID
    sell_asset: str
    sell_decimals: int
    buy_asset: str
    buy_decimals: int
    amount: Units = Field(description="Sell units taken from the offer")
    fee: Units = Field(description="The market fee, in sell units, out of `amount`")
    received: Units = Field(description="Sell units the taker got: `amount - fee`")
    paid: Units = Field(
        description="Buy units the taker paid the maker: ceil(amount × buy_amount / sell_amount)"
    )
    offer_remaining: Units = Field(description="What the offer still has after this fill")
    offer_status: OfferStatus
    created_at: datetime
