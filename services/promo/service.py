"""Promo codes: creation with a budget held in the ledger, race-safe redemption, tracking.

A code's uses and budget are split over up to `SLOTS` rows of `gifts.promo_slots`, so
redemptions of one hot code spread over as many rows and ledger accounts instead of all
queueing on one. Each slot's budget is a hold from `system:promo#<shard>` to
`system:escrow#<shard>`. Redemption `k` of a slot runs in one transaction: one conditional
UPDATE of the slot (active, `used < max_uses`, `paid + amount <= budget`) decides it, a row in
`gifts.promo_redemptions` (unique per user and ordinal) records it, and one linked ledger batch
voids the slot's hold `k-1`, credits the user from `system:promo` and holds what is left as
hold `k`. The UPDATE's row lock makes redemptions of one slot queue (Read Committed
re-evaluates the WHERE on the row the previous redemption left), so each slot's chain of holds
is linear and the ledger itself shows that paid + held = budget.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import ServiceTx
from db.models import User
from services.ledger.amounts import MAX_UNITS
from services.ledger.errors import AdminOnly, ledger_error
from services.ledger.limits import check_amount
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, run_native, system_account
from services.promo.errors import (
    InvalidPromoCode,
    InvalidPromoTerms,
    PromoCodeTaken,
    PromoNotFound,
    PromoUnavailable,
)
from services.promo.schemas import (
    PROMO_BUDGET_CODE,
    Promo,
    PromoTerms,
    Redemption,
    RedemptionRow,
)
from services.users.access import is_admin

SHARDS = 256
# Rows a code's counters are spread over: enough for the clients one instance drives at once.
SLOTS = 16
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
_REDEEM = "SELECT gifts.redeem_promo($1, $2, $3)"
_INSERT_SLOTS = text(
    "INSERT INTO gifts.promo_slots (promo_id, slot, max_uses, budget) "
    "SELECT :id, i - 1, u, b FROM unnest(CAST(:uses AS integer[]), CAST(:budgets AS numeric[])) "
    "WITH ORDINALITY AS s(u, b, i)"
)
_DEACTIVATE = text(
    "UPDATE gifts.promo_codes SET active = false WHERE id = :id AND active RETURNING shard, asset"
)
# Locks every slot: waits for redemptions under way, and none starts after.
_CLOSE_SLOTS = text(
    "UPDATE gifts.promo_slots SET active = false WHERE promo_id = :id "
    "RETURNING slot, used, budget - paid AS left"
)
_GET = text(
    """
    SELECT p.id, p.code, p.asset, s.decimals, p.amount, p.max_uses, p.per_user, p.budget,
           p.new_users_only, p.min_account_age, p.active, p.expires_at, p.created_at,
           (SELECT sum(used) FROM gifts.promo_slots WHERE promo_id = p.id) AS used,
           (SELECT sum(paid) FROM gifts.promo_slots WHERE promo_id = p.id) AS paid
    FROM gifts.promo_codes p JOIN tokens.assets s ON s.code = p.asset
    WHERE p.code_hash = :hash
    """
)
_REDEMPTIONS = text(
    """
    SELECT r.user_id, u.telegram_id, u.username, r.amount, r.transfer_id, r.redeemed_at,
           row_number() OVER (ORDER BY r.redeemed_at, r.slot, r.use_number) AS use_number
    FROM gifts.promo_redemptions r JOIN auth.users u ON u.id = r.user_id
    WHERE r.promo_id = :id ORDER BY r.redeemed_at, r.slot, r.use_number
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


def derived_id(*cause: object) -> UUID:
    """An id derived from its cause as `gifts.redeem_promo` derives it in SQL:
    md5('<kind>:<part>:<part>...')::uuid."""
    # An id, not a secret: md5 is what SQL has built in, and collisions need intent.
    digest = hashlib.md5(":".join(str(part) for part in cause).encode(), usedforsecurity=False)
    return UUID(digest.hexdigest())


def budget_hold_id(promo_id: UUID, slot: int, k: int) -> UUID:
    """The hold of what is left of a slot after its `k` redemptions (k = 0: its budget)."""
    return derived_id(PROMO_BUDGET_CODE, promo_id, slot, k)


def _accounts(shard: int, slot: int) -> tuple[str, str]:
    shard = (shard + slot) % SHARDS
    return system_account("promo", shard=shard), system_account("escrow", shard=shard)


MAX_LIFETIME = timedelta(days=3653)


def split_slots(amount: int, max_uses: int, budget: int) -> tuple[list[int], list[int]]:
    """Uses and budget per slot: the payable uses spread evenly (the first slots get one more),
    each slot's budget exactly its uses' credits; what no use can pay stays with slot 0."""
    payable = min(max_uses, budget // amount)
    slots = min(SLOTS, payable)
    base, rest = divmod(payable, slots)
    uses = [base + (1 if i < rest else 0) for i in range(slots)]
    budgets = [n * amount for n in uses]
    budgets[0] += budget - payable * amount
    return uses, budgets


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
    if not terms.amount <= budget <= MAX_UNITS or terms.min_account_age < 0:
        raise InvalidPromoTerms("the budget must cover at least one redemption")
    if budget > terms.amount * terms.max_uses or budget % terms.amount:
        # What no use can pay would stay held with nothing ever to release it.
        raise InvalidPromoTerms("the budget must be whole uses, at most amount × max_uses")
    now = datetime.now(UTC)
    if terms.expires_at is not None and terms.expires_at <= now:
        raise InvalidPromoTerms("the expiry is in the past")
    if terms.expires_at is not None and terms.expires_at - now > MAX_LIFETIME:
        # Year 9999 at -14:00 is past what a UTC timestamp holds: a 500 in the INSERT.
        raise InvalidPromoTerms("the expiry is more than ten years away")
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
    uses, budgets = split_slots(terms.amount, terms.max_uses, budget)
    await session.execute(_INSERT_SLOTS, {"id": promo_id, "uses": uses, "budgets": budgets})
    holds: list[Transfer | ResolveHold] = []
    for slot, slot_budget in enumerate(budgets):
        debit, credit = _accounts(shard, slot)
        holds.append(
            Transfer(
                id=budget_hold_id(promo_id, slot, 0),
                debit=debit,
                credit=credit,
                asset=terms.asset.code,
                amount=slot_budget,
                code=PROMO_BUDGET_CODE,
                kind="pending",
                metadata={"promo_id": str(promo_id)},
            )
        )
    await apply(session, holds)
    return await get(session, code)


async def redeem(
    conn: AsyncConnection, *, user: User, raw_code: str, cause: str | None = None
) -> Redemption:
    """Credit the code's amount to `user`, within the code's rules, in one statement
    (`gifts.redeem_promo`, on a `db.statement()` connection: it commits by itself).

    `cause` (the bot's chat and message) keys the redemption: the same cause again answers
    the first redemption and pays nothing more.

    The code is looked up by its sha256 and never compared character by character, so the
    answer's timing tells nothing about how much of a guess was right.

    Raises PromoUnavailable for every refusal about the code, and the ledger's errors
    (AmountTooLarge, AccountTotalOverflow) for a credit it refuses.
    """
    code = normalize_code(raw_code)
    if code is None:
        raise PromoUnavailable("this code is not available")
    return await redeem_hash(conn, code_hash(code), user.id, cause)


async def redeem_hash(
    conn: AsyncConnection, hashed: bytes, user_id: UUID, cause: str | None = None
) -> Redemption:
    """`redeem` of a normalized code's hash. Raises what `redeem` raises."""
    try:
        raw = await run_native(conn, _REDEEM, hashed, user_id, cause)
    except asyncpg.RaiseError as error:
        message = getattr(error, "message", "") or str(error)
        raise refusal(message, getattr(error, "hint", None)) from None
    return redemption_of(raw)


def refusal(message: str, hint: str | None) -> Exception:
    """The error of a redemption the function refused by raising: the ledger's (hint
    `ledger`), else the code's."""
    if hint == "ledger":
        return ledger_error(message)
    return PromoUnavailable("this code is not available")


def redemption_of(raw: str | dict[str, Any]) -> Redemption:
    """One answer of `gifts.redeem_promo`; raises PromoUnavailable for a refusal."""
    # SQLAlchemy's asyncpg connections decode jsonb; a bare driver hands over the text.
    answer: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw
    if answer["result"] != "ok":
        raise PromoUnavailable("this code is not available")
    return Redemption(
        promo_id=UUID(answer["promo_id"]),
        code=answer["code"],
        asset=answer["asset"],
        decimals=int(answer["decimals"]),
        amount=int(answer["amount"]),
        transfer_id=UUID(answer["transfer_id"]),
        use_number=int(answer["use"]),
    )


async def deactivate(session: ServiceTx, promo_id: UUID) -> bool:
    """Close a code and release what is left of its budget; False if it was closed already."""
    row = (await session.execute(_DEACTIVATE, {"id": promo_id})).one_or_none()
    if row is None:
        return False
    slots = (await session.execute(_CLOSE_SLOTS, {"id": promo_id})).all()
    voids: list[Transfer | ResolveHold] = [
        ResolveHold(
            id=derived_id("promo_budget_void", promo_id, s.slot, s.used),
            pending_id=budget_hold_id(promo_id, s.slot, s.used),
            kind="void",
        )
        for s in slots
        if int(s.left) > 0
    ]
    if voids:
        await apply(session, voids)
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
        used=int(row.used or 0),
        paid=int(row.paid or 0),
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
