"""What promo codes take and give back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.ledger.schemas import Asset

# The ledger code of a promo credit: never a qualifying action for referral rewards (the
# referral engine skips transfers with these codes; promo credits come from `system:promo`).
PROMO_CODE = "promo"
PROMO_BUDGET_CODE = "promo_budget"
REFERRAL_EXCLUDED_CODES = frozenset({PROMO_CODE, PROMO_BUDGET_CODE})


@dataclass(frozen=True)
class PromoTerms:
    """A new code, validated: amounts in smallest units, `min_account_age` in seconds."""

    code: str
    asset: Asset
    amount: int
    max_uses: int
    per_user: int = 1
    budget: int | None = None
    expires_at: datetime | None = None
    new_users_only: bool = False
    min_account_age: int = 0


@dataclass(frozen=True)
class Promo:
    id: UUID
    code: str
    asset: str
    decimals: int
    amount: int
    max_uses: int
    per_user: int
    budget: int
    used: int
    paid: int
    new_users_only: bool
    min_account_age: int
    active: bool
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Redemption:
    promo_id: UUID
    code: str
    asset: str
    decimals: int
    amount: int
    transfer_id: UUID
    use_number: int


@dataclass(frozen=True)
class RedemptionRow:
    user_id: UUID
    telegram_id: int
    username: str | None
    amount: int
    use_number: int
    transfer_id: UUID
    redeemed_at: datetime
