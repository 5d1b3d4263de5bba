"""What purchases take and give back: the invoice payload, packs and purchases as shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.ledger.schemas import Units
from services.purchases.errors import InvalidInvoice
from services.purchases.packs import Pack

CURRENCY = "XTR"
_PAYLOAD = re.compile(r"p1:([a-z0-9_]{1,32}):([0-9]{1,9}):([0-9]{1,39}):([0-9]{1,16})")


@dataclass(frozen=True)
class InvoiceTerms:
    """What one invoice sells, carried in its payload (1-128 bytes, kept by Telegram, which
    only the bot can set): the pack, its price and VIBE at the time, and the buyer."""

    pack_id: str
    stars: int
    vibe: int
    telegram_id: int

    @classmethod
    def of(cls, pack: Pack, telegram_id: int) -> InvoiceTerms:
        return cls(pack.id, pack.stars, pack.vibe, telegram_id)

    def payload(self) -> str:
        return f"p1:{self.pack_id}:{self.stars}:{self.vibe}:{self.telegram_id}"

    @classmethod
    def parse(cls, payload: str) -> InvoiceTerms:
        """Raises InvalidInvoice for a payload we did not write."""
        match = _PAYLOAD.fullmatch(payload)
        if match is None:
            raise InvalidInvoice("not one of our invoices")
        pack_id, stars, vibe, telegram_id = match.groups()
        return cls(pack_id, int(stars), int(vibe), int(telegram_id))


@dataclass(frozen=True)
class StarsTransaction:
    """One of the bot's Star transactions as Telegram records it (`getStarTransactions`): a
    user's invoice payment, the refund of one (which carries the payment's id), or something
    else (a withdrawal, a gift the bot bought), which purchases leave alone."""

    charge_id: str
    kind: Literal["payment", "refund", "other"]
    stars: int
    telegram_id: int | None = None
    payload: str | None = None


class PackOut(BaseModel):
    id: str
    stars: int = Field(description="Price in Telegram Stars (XTR)")
    vibe: Units = Field(description="VIBE units credited")


class InvoiceIn(BaseModel):
    pack_id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")


class InvoiceOut(BaseModel):
    invoice_link: str = Field(description="Open with Telegram.WebApp.openInvoice")


class PurchaseOut(BaseModel):
    id: UUID
    pack_id: str
    stars: int
    vibe: Units
    status: Literal["paid", "refunded"]
    created_at: datetime
    refunded_at: datetime | None
