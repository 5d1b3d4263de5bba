"""Promo codes: creation with a budget held in the ledger, race-safe redemption, tracking.

A code's budget is a hold from `system:promo#<shard>` to `system:escrow#<shard>`. Redemption
`k` of a code runs in one transaction: one conditional UPDATE of the code's row (active, not
expired, `used < max_uses`, `paid + amount <= budget`) decides it, a row in
`gifts.promo_redemptions` (unique per user and ordinal) records it, and one linked ledger batch
voids hold `k-1`, credits the user from `system:promo` and holds what is left as hold `k`. The
UPDATE's row lock makes redemptions of one code queue (Read Committed re-evaluates the WHERE
on the row the previous redemption left), so the chain of holds is linear and the ledger itself
shows that paid + held = budget.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text

from db.database import ServiceTx
from db.models import User
from services.ledger.errors import AdminOnly
from services.ledger.limits import check_amount
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.promo.errors import (
    InvalidPromoCode,
    InvalidPromoTerms,
    PromoCodeTaken,
    PromoNotFound,
    PromoUnavailable,
)
from services.promo.schemas import (
    PROMO_BUDGET_CODE,
    PROMO_CODE,
    Promo,
    PromoTerms,
    Redemption,
    RedemptionRow,
)
from services.users.access import is_admin, is_banned

SHARDS = 256
MAX_USES = 1_000_000
MAX_PER_USER = 1000
_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

_INSERT = text(
    """
    INSERT INTO gifts.promo_codes (id, code, code_hash, asset, amount, max_uses, per_user,
        budget, new_users_only, min_account_age, shard, expires_at, created_by)
    VALUES (:id, :code, :hash, :asset, :amount, :max_uses, :per_user, :budget, :new_users_only,
        :min_age, :shard, :expires_at, :by)
    ON CONFLICT (code_hash) DO NOTHING
    RETURNING id
    """
)
_FIND = text(
    "SELECT p.id, p.code, p.asset, s.decimals, p.amount, p.per_user, p.new_users_only, "
    "p.min_account_age, p.created_at, p.shard "
    "FROM gifts.promo_codes p JOIN tokens.assets s ON s.code = p.asset WHERE p.code_hash = :hash"
)
_USES_BY = text(
    "SELECT count(*) FROM gifts.promo_redemptions WHERE promo_id = :id AND user_id = :user"
)
# The decision: one statement, re-evaluated on the newest row by each waiting redemption.
_TAKE = text(
    """
    UPDATE gifts.promo_codes SET used = used + 1, paid = paid + amount
    WHERE id = :id AND active AND used < max_uses AND paid + amount <= budget
      AND (expires_at IS NULL OR expires_at > now())
    RETURNING used, budget - paid AS left
    """
)
_RECORD = text(
    """
    INSERT INTO gifts.promo_redemptions (promo_id, user_id, n, use_number, amount, transfer_id)
    VALUES (:id, :user, :n, :use, :amount, :transfer)
    ON CONFLICT (promo_id, user_id, n) DO NOTHING
    RETURNING n
    """
)
_DEACTIVATE = text(
    """
    UPDATE gifts.promo_codes SET active = false
    WHERE id = :id AND active
    RETURNING used, budget - paid AS left, shard, asset
    """
)
_COLUMNS = (
    "p.id, p.code, p.asset, s.decimals, p.amount, p.max_uses, p.per_user, p.budget, p.used, "
    "p.paid, p.new_users_only, p.min_account_age, p.active, p.expires_at, p.created_at"
)
_GET = text(
    f"SELECT {_COLUMNS} FROM gifts.promo_codes p JOIN tokens.assets s ON s.code = p.asset "
    "WHERE p.code_hash = :hash"
)
_REDEMPTIONS = text(
    """
    SELECT r.user_id, u.telegram_id, u.username, r.amount, r.use_number, r.transfer_id,
           r.redeemed_at
    FROM gifts.promo_redemptions r JOIN auth.users u ON u.id = r.user_id
    WHERE r.promo_id = :id ORDER BY r.use_number
    """
)
_EXPIRED = text(
    "SELECT id FROM gifts.promo_codes WHERE active AND expires_at <= now() "
    "ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)


def normalize_code(raw: str) -> str | None:
    """A code as stored: NFKC, upper case; None unless 3..32 of A-Z, 0-9, `_`, `-`."""
    code = unicodedata.normalize("NFKC", raw.strip()).upper()
    if not 3 <= len(code) <= 32 or not set(code) <= _CODE_CHARS:
        return None
    return code


def code_hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def budget_hold_id(promo_id: UUID, k: int) -> UUID:
    """The hold of what is left after `k` redemptions (k = 0: the whole budget)."""
    return transfer_id(PROMO_BUDGET_CODE, promo_id, k)


def _accounts(shard: int) -> tuple[str, str]:
    return system_account("promo", shard=shard), system_account("escrow", shard=shard)


async def create(session: ServiceTx, *, admin: User, terms: PromoTerms) -> Promo:
    """A new code with its budget held in the ledger.

    Raises AdminOnly, InvalidPromoCode, InvalidPromoTerms, PromoCodeTaken, and the ledger's
    refusals of the hold (AmountTooLarge for a budget above the asset's per-transfer maximum,
    SupplyExceeded).
    """
    if not is_admin(admin):
        raise AdminOnly("only admins may create promo codes")
    code = normalize_code(terms.code)
    if code is None:
        raise InvalidPromoCode("a code is 3 to 32 letters, digits, _ or -")
    check_amount(terms.asset, terms.amount)
    budget = terms.budget if terms.budget is not None else terms.amount * terms.max_uses
    if not 1 <= terms.max_uses <= MAX_USES or not 1 <= terms.per_user <= MAX_PER_USER:
        raise InvalidPromoTerms("max_uses or per_user out of range")
    if budget < terms.amount or terms.min_account_age < 0:
        raise InvalidPromoTerms("the budget must cover at least one redemption")
    if terms.expires_at is not None and terms.expires_at <= datetime.now(UTC):
        raise InvalidPromoTerms("the expiry is in the past")
    promo_id = uuid4()
    shard = promo_id.int % SHARDS
    inserted = await session.scalar(
        _INSERT,
        {
            "id": promo_id,
            "code": code,
            "hash": code_hash(code),
            "asset": terms.asset.code,
            "amount": terms.amount,
            "max_uses": terms.max_uses,
            "per_user": terms.per_user,
            "budget": budget,
            "new_users_only": terms.new_users_only,
            "min_age": terms.min_account_age,
            "shard": shard,
            "expires_at": terms.expires_at,
            "by": admin.id,
        },
    )
    if inserted is None:
        raise PromoCodeTaken("this code exists already")
    debit, credit = _accounts(shard)
    await apply(
        session,
        [
            Transfer(
                id=budget_hold_id(promo_id, 0),
                debit=debit,
                credit=credit,
                asset=terms.asset.code,
                amount=budget,
                code=PROMO_BUDGET_CODE,
                kind="pending",
                metadata={"promo_id": str(promo_id)},
            )
        ],
    )
    return await get(session, code)


async def redeem(session: ServiceTx, *, user: User, raw_code: str) -> Redemption:
    """Credit the code's amount to `user`, within the code's rules.

    Raises PromoUnavailable for every refusal about the code (the caller rolls back), and the
    ledger's errors (AmountTooLarge, AccountTotalOverflow) for a credit it refuses.
    """
    code = normalize_code(raw_code)
    if code is None:
        raise PromoUnavailable("this code is not available")
    row = (await session.execute(_FIND, {"hash": code_hash(code)})).one_or_none()
    # The lookup went by hash; the code itself is compared without an early exit.
    if row is None or not hmac.compare_digest(row.code.encode(), code.encode()):
        raise PromoUnavailable("this code is not available")
    if not _eligible(user, row):
        raise PromoUnavailable("this code is not available")
    n = int(await session.scalar(_USES_BY, {"id": row.id, "user": user.id}) or 0) + 1
    if n > row.per_user:
        raise PromoUnavailable("this code is not available")
    taken = (await session.execute(_TAKE, {"id": row.id})).one_or_none()
    if taken is None:
        raise PromoUnavailable("this code is not available")
    use, left = int(taken.used), int(taken.left)
    amount = int(row.amount)
    credit_id = transfer_id(PROMO_CODE, row.id, user.id, n)
    recorded = await session.scalar(
        _RECORD,
        {
            "id": row.id,
            "user": user.id,
            "n": n,
            "use": use,
            "amount": amount,
            "transfer": credit_id,
        },
    )
    if recorded is None:
        # The same user's concurrent redemption took this ordinal first; the caller rolls back.
        raise PromoUnavailable("this code is not available")
    promo_account, escrow = _accounts(row.shard)
    batch: list[Transfer | ResolveHold] = [
        ResolveHold(
            id=transfer_id("promo_budget_void", row.id, use - 1),
            pending_id=budget_hold_id(row.id, use - 1),
            kind="void",
        ),
        Transfer(
            id=credit_id,
            debit=promo_account,
            credit=user_account(user.id),
            asset=row.asset,
            amount=amount,
            code=PROMO_CODE,
            metadata={"promo_id": str(row.id), "code": code},
        ),
    ]
    if left > 0:
        batch.append(
            Transfer(
                id=budget_hold_id(row.id, use),
                debit=promo_account,
                credit=escrow,
                asset=row.asset,
                amount=left,
                code=PROMO_BUDGET_CODE,
                kind="pending",
                metadata={"promo_id": str(row.id)},
            )
        )
    await apply(session, batch)
    return Redemption(
        promo_id=row.id,
        code=code,
        asset=row.asset,
        decimals=row.decimals,
        amount=amount,
        transfer_id=credit_id,
        use_number=use,
    )


def _eligible(user: User, row: Any) -> bool:
    if is_banned(user):
        return False
    if row.new_users_only and user.created_at <= row.created_at:
        return False
    age = (datetime.now(UTC) - user.created_at).total_seconds()
    return not (row.min_account_age and age < row.min_account_age)


async def deactivate(session: ServiceTx, promo_id: UUID) -> bool:
    """Close a code and release what is left of its budget; False if it was closed already."""
    row = (await session.execute(_DEACTIVATE, {"id": promo_id})).one_or_none()
    if row is None:
        return False
    if int(row.left) > 0:
        await apply(
            session,
            [
                ResolveHold(
                    id=transfer_id("promo_budget_void", promo_id, row.used),
                    pending_id=budget_hold_id(promo_id, row.used),
                    kind="void",
                )
            ],
        )
    return True


async def close_expired(session: ServiceTx, *, limit: int = 100) -> int:
    """Deactivate expired codes (their rows locked, skipped by a concurrent instance)."""
    due: Sequence[UUID] = (await session.scalars(_EXPIRED, {"limit": limit})).all()
    closed = 0
    for promo_id in due:
        closed += await deactivate(session, promo_id)
    return closed


async def get(session: ServiceTx, raw_code: str) -> Promo:
    """Raises PromoNotFound (admins only see this)."""
    code = normalize_code(raw_code)
    row = None
    if code is not None:
        row = (await session.execute(_GET, {"hash": code_hash(code)})).one_or_none()
    if row is None:
        raise PromoNotFound("no such promo code")
    return Promo(
        id=row.id,
        code=row.code,
        asset=row.asset,
        decimals=row.decimals,
        amount=int(row.amount),
        max_uses=row.max_uses,
        per_user=row.per_user,
        budget=int(row.budget),
        used=row.used,
        paid=int(row.paid),
        new_users_only=row.new_users_only,
        min_account_age=row.min_account_age,
        active=row.active,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


async def redemptions(session: ServiceTx, promo_id: UUID) -> list[RedemptionRow]:
    rows = (await session.execute(_REDEMPTIONS, {"id": promo_id})).all()
    return [
        RedemptionRow(
            user_id=r.user_id,
            telegram_id=r.telegram_id,
            username=r.username,
            amount=int(r.amount),
            use_number=r.use_number,
            transfer_id=r.transfer_id,
            redeemed_at=r.redeemed_at,
        )
        for r in rows
    ]
