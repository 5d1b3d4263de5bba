"""What gifts take and give back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

GiftKind = Literal["direct", "link", "packet"]
Split = Literal["equal", "random"]
GiftStatus = Literal["open", "claimed", "cancelled", "expired", "sent"]

# Ledger codes of gifts: like P2P transfers, none qualifies for referral rewards.
GIFT_CODE = "gift"
GIFT_HOLD_CODE = "gift_hold"
MAX_SHARES = 100
MAX_MESSAGE = 200


@dataclass(frozen=True)
class Gift:
    id: UUID
    kind: GiftKind
    creator_id: UUID
    recipient_id: UUID | None
    asset: str
    decimals: int
    amount: int
    shares: int
    claimed_shares: int
    claimed_amount: int
    split: Split
    message: str | None
    status: GiftStatus
    created_at: datetime
    expires_at: datetime | None
    # Only right after creation: the secret is never stored, so never read back.
    secret: str | None = None


@dataclass(frozen=True)
class Claim:
    gift_id: UUID
    asset: str
    decimals: int
    amount: int
    share: int
    message: str | None
    creator_id: UUID


@dataclass(frozen=True)
class Preview:
    """What the claim view shows before a claim: for a packet, the total and shares left (a
    random share is known only once taken)."""

    kind: GiftKind
    asset: str
    decimals: int
    amount: int
    shares: int
    shares_left: int
    message: str | None
    sender: str
    expires_at: datetime | None
