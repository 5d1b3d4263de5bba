"""Stars purchases: pre-checkout answers, crediting each payment once, refunds, the list.

A payment is credited exactly once, keyed on Telegram's charge id, by one statement
(`tokens.credit_purchases`, db/sql/tokens/credit_purchases.sql): its purchase row is inserted
with ON CONFLICT DO NOTHING (a concurrent duplicate waits on the unique index, then answers
`exists` with the first one's row), every ledger id derives from the charge id too, and the
credit, the settlement of earlier refunds' debts and the referral holds are one linked ledger
group. Many payments go in one statement (`services.purchases.batcher`), each its own group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import ServiceTx, UserTx
from db.models import User
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET, DEFAULT_ASSET_DECIMALS
from services.ledger.errors import ledger_error
from services.ledger.history import decode_cursor, encode_cursor
from services.ledger.schemas import Transfer
from services.ledger.service import (
    apply,
    run_native,
    system_account,
    transfer_id,
    user_account,
)
from services.notifications.service import enqueue
from services.purchases.errors import (
    AlreadyRefunded,
    BuyerBanned,
    InvalidInvoice,
    NotTheBuyer,
    PackNotFound,
    PriceChanged,
    PurchaseNotFound,
    TokensSpent,
)
from services.purchases.packs import Pack, find_pack
from services.purchases.schemas import CURRENCY, InvoiceTerms, PurchaseOut
from services.referrals.config import ReferralConfig
from services.referrals.fraud import SCORES, SHARED_WALLET, check_refund_loop
from services.referrals.rewards import reward_id, void_source
from services.users.access import is_banned

# Every purchase credits from the sales account: spread over shards (by buyer), as the rewards
# account is (services/referrals/rewards.py). Stars income in VIBE is the sum over the shards.
SALES_SHARDS = 16


def sales_account(telegram_id: int) -> str:
    return system_account("stars_sales", shard=telegram_id % SALES_SHARDS)


@dataclass(frozen=True)
class PurchaseConfig:
    packs: tuple[Pack, ...]
    referrals: ReferralConfig


def pack_of(config: PurchaseConfig, pack_id: str) -> Pack:
    """Raises PackNotFound."""
    pack = find_pack(config.packs, pack_id)
    if pack is None:
        raise PackNotFound("no such pack", pack_id=pack_id)
    return pack


def check_pre_checkout(
    config: PurchaseConfig, *, payer: User, payload: str, currency: str, total: int
) -> InvoiceTerms:
    """Whether to let Telegram take the Stars: our invoice, the pack still sold at that price,
    paid by the buyer it was made for, who is not banned.

    Raises InvalidInvoice, PackNotFound, PriceChanged, NotTheBuyer, BuyerBanned.
    """
    terms = InvoiceTerms.parse(payload)
    if currency != CURRENCY or total != terms.stars:
        raise InvalidInvoice("the price is not the invoice's")
    pack = pack_of(config, terms.pack_id)
    if (pack.stars, pack.vibe) != (terms.stars, terms.vibe):
        raise PriceChanged("this pack's price changed", stars=pack.stars)
    if payer.telegram_id != terms.telegram_id:
        raise NotTheBuyer("this invoice was made for someone else")
    if is_banned(payer):
        raise BuyerBanned("banned users cannot buy")
    return terms


@dataclass(frozen=True)
class Credit:
    purchase_id: UUID
    vibe: int
    # VIBE units taken back at once for an earlier refund's debt
    settled: int
    rewards: int
    replayed: bool


@dataclass(frozen=True)
class Payment:
    """A `successful_payment` checked at the edge, ready for `tokens.credit_purchases`."""

    buyer_id: UUID
    telegram_id: int
    charge_id: str
    terms: InvoiceTerms


def shard_of(payment: Payment) -> int:
    """The shard of the sales and rewards accounts the payment's statement locks."""
    return payment.telegram_id % SALES_SHARDS


def payment_of(buyer: User, *, charge_id: str, payload: str, currency: str, total: int) -> Payment:
    """Raises InvalidInvoice for a payment that is not ours (or a charge id no Telegram
    payment has)."""
    terms = InvoiceTerms.parse(payload)
    if currency != CURRENCY or total != terms.stars:
        raise InvalidInvoice("the price is not the invoice's")
    if terms.stars <= 0 or terms.vibe <= 0:
        raise InvalidInvoice("nothing is sold for nothing")
    if not _CHARGE.fullmatch(charge_id):
        raise InvalidInvoice("not a Telegram charge id")
    return Payment(buyer.id, buyer.telegram_id, charge_id, terms)


# Telegram's charge ids are printable ASCII; the table takes at most 255 characters.
_CHARGE = re.compile(r"[!-~]{1,255}")
_CREDIT = (
    "SELECT tokens.credit_purchases($1::text[], $2::uuid[], $3::bigint[], $4::text[],"
    " $5::integer[], $6::numeric[], $7::uuid[], $8::uuid[], $9::integer[], $10::integer,"
    " $11::text, $12::integer, $13::integer)"
)


def source_of(charge_id: str) -> str:
    return f"stars:{charge_id}"


async def credit_payments(
    conn: AsyncConnection, config: PurchaseConfig, payments: Sequence[Payment]
) -> list[dict[str, Any]]:
    """Credit payments (distinct charge ids) in one statement; one answer each, in order:
    `{"result": "ok" | "exists" | a ledger failure code, ...}` (db/sql/tokens/credit_purchases.sql).

    Every id derives from the charge id: the credit's, and each level's reward (the reward's
    hold); a replay answers `exists` and moves nothing.
    """
    levels = config.referrals.levels_bps
    answers = await run_native(
        conn,
        _CREDIT,
        [p.charge_id for p in payments],
        [p.buyer_id for p in payments],
        [p.telegram_id for p in payments],
        [p.terms.pack_id for p in payments],
        [p.terms.stars for p in payments],
        [p.terms.vibe for p in payments],
        [transfer_id("stars", p.charge_id) for p in payments],
        [
            reward_id(source_of(p.charge_id), level)
            for p in payments
            for level in range(1, len(levels) + 1)
        ],
        list(levels),
        config.referrals.hold_days,
        DEFAULT_ASSET,
        SALES_SHARDS,
        SCORES[SHARED_WALLET],
    )
    decoded: list[dict[str, Any]] = json.loads(answers) if isinstance(answers, str) else answers
    return decoded


def credit_of(answer: dict[str, Any]) -> Credit:
    """One member's answer. Raises the ledger's error for a refused one."""
    result = answer["result"]
    if result not in ("ok", "exists"):
        raise ledger_error(result)
    purchase_id = UUID(answer["purchase_id"])
    if result == "exists":
        return Credit(purchase_id, int(answer["vibe"]), 0, 0, replayed=True)
    return Credit(
        purchase_id, int(answer["vibe"]), int(answer["settled"]), answer["rewards"], replayed=False
    )


async def credit_purchase(
    session: ServiceTx,
    config: PurchaseConfig,
    *,
    buyer: User,
    charge_id: str,
    payload: str,
    currency: str,
    total: int,
) -> Credit:
    """Credit a `successful_payment` once, in the caller's transaction; a replay (same charge
    id) changes nothing. `services.purchases.batcher` does the same for many at once.

    Credits what the invoice promised (its payload) even if the pack changed since: Telegram
    already took the Stars. The credit, the settlement of earlier refunds' debts and the
    referral holds are one linked ledger group. Raises InvalidInvoice for a payment that is not
    ours, and the ledger's error for one it refuses.
    """
    payment = payment_of(
        buyer, charge_id=charge_id, payload=payload, currency=currency, total=total
    )
    (answer,) = await credit_payments(await session.connection(), config, [payment])
    return credit_of(answer)


@dataclass(frozen=True)
class RefundCheck:
    purchase_id: UUID
    buyer_telegram_id: int
    vibe: int
    available: int

    @property
    def shortfall(self) -> int:
        return max(0, self.vibe - self.available)


_PURCHASE = text(
    """
    SELECT p.id, p.user_id, p.vibe, p.status, u.telegram_id,
           coalesce((SELECT a.credits_posted - a.debits_posted - a.debits_pending
                       FROM tokens.accounts a
                      WHERE a.address = 'user:' || p.user_id AND a.asset = :asset), 0) AS available
      FROM tokens.purchases p JOIN auth.users u ON u.id = p.user_id
     WHERE p.charge_id = :charge
    """
)


async def check_refund(session: ServiceTx, charge_id: str, *, force: bool) -> RefundCheck:
    """Before asking Telegram for the Stars back: the purchase exists, is not refunded, and
    (unless `force`) its buyer still has every token it credited.

    Raises PurchaseNotFound, AlreadyRefunded, TokensSpent (with vibe, available, shortfall).
    """
    row = (await session.execute(_PURCHASE, {"charge": charge_id, "asset": DEFAULT_ASSET})).first()
    if row is None:
        raise PurchaseNotFound("no purchase with this charge id")
    if row.status == "refunded":
        raise AlreadyRefunded("this purchase was already refunded")
    check = RefundCheck(row.id, int(row.telegram_id), int(row.vibe), int(row.available))
    if check.shortfall and not force:
        raise TokensSpent(
            "the buyer already spent part of these tokens",
            vibe=str(check.vibe),
            available=str(check.available),
            shortfall=str(check.shortfall),
        )
    return check


@dataclass(frozen=True)
class Refund:
    purchase_id: UUID
    user_id: UUID
    reversed: int
    debt: int
    voided: int
    replayed: bool


# The buyer's notices (services/i18n/locales/*/purchases.ftl).
REFUNDED = "purchases.refunded"
REFUNDED_WITH_DEBT = "purchases.refunded_debt"
CREDITED = "purchases.credited"

_LOCK = text(
    "SELECT p.id, p.user_id, p.vibe, p.status, u.telegram_id FROM tokens.purchases p "
    "JOIN auth.users u ON u.id = p.user_id WHERE p.charge_id = :charge FOR UPDATE OF p"
)
_AVAILABLE = text(
    "SELECT coalesce((SELECT credits_posted - debits_posted - debits_pending FROM tokens.accounts"
    " WHERE address = :address AND asset = :asset), 0)"
)
_MARK = text(
    "UPDATE tokens.purchases SET status = 'refunded', refunded_at = now() "
    "WHERE id = :id AND status = 'paid'"
)
_DEBT = text(
    "INSERT INTO tokens.debts (purchase_id, user_id, amount) VALUES (:purchase, :user, :amount)"
)


async def record_refund(session: ServiceTx, config: PurchaseConfig, charge_id: str) -> Refund:
    """The Stars went back (our refundStarPayment, or Telegram's own refund): take back what
    the buyer still has of the credit, void the rewards it caused, in one ledger batch, and
    record what is missing as a debt. Once per purchase; a second call changes nothing.

    Raises PurchaseNotFound.
    """
    row = (await session.execute(_LOCK, {"charge": charge_id})).first()
    if row is None:
        raise PurchaseNotFound("no purchase with this charge id")
    if row.status == "refunded":
        return Refund(row.id, row.user_id, 0, 0, 0, replayed=True)
    account = user_account(row.user_id)
    available = int(
        await session.scalar(_AVAILABLE, {"address": account, "asset": DEFAULT_ASSET}) or 0
    )
    vibe = int(row.vibe)
    taken = min(vibe, max(0, available))
    reverse = [
        Transfer(
            id=transfer_id("stars_refund", charge_id),
            debit=account,
            credit=sales_account(int(row.telegram_id)),
            asset=DEFAULT_ASSET,
            amount=taken,
            code="stars_refund",
            metadata={"charge_id": charge_id},
        )
    ][: 1 if taken else 0]
    voids = await void_source(session, source_of(charge_id))
    if reverse or voids:
        await apply(session, [*reverse, *voids])
    await session.execute(_MARK, {"id": row.id})
    debt = vibe - taken
    if debt:
        await session.execute(_DEBT, {"purchase": row.id, "user": row.user_id, "amount": debt})
    await check_refund_loop(session, config.referrals.fraud, row.user_id)
    # Told here, in the transaction that records the refund, whichever door it came through
    # (an admin's /refund records it before Telegram's refunded_payment update arrives, which
    # then finds it done): the buyer hears of it once.
    await enqueue(
        session,
        chat_id=int(row.telegram_id),
        user_id=row.user_id,
        template=REFUNDED_WITH_DEBT if debt else REFUNDED,
        params={
            "vibe": format_amount(taken, DEFAULT_ASSET_DECIMALS),
            "debt": format_amount(debt, DEFAULT_ASSET_DECIMALS),
        },
        dedup_key=f"stars_refund:{charge_id}",
    )
    return Refund(row.id, row.user_id, taken, debt, len(voids), replayed=False)


_LIST = text(
    """
    SELECT id, pack_id, stars, vibe, status, created_at, refunded_at FROM tokens.purchases
     WHERE (CAST(:at AS timestamptz) IS NULL
            OR (created_at, id) < (CAST(:at AS timestamptz), CAST(:id AS uuid)))
     ORDER BY created_at DESC, id DESC LIMIT :limit
    """
)


@dataclass(frozen=True)
class PurchasePage:
    items: list[PurchaseOut]
    next_cursor: str | None


async def list_purchases(session: UserTx, *, cursor: str | None, limit: int) -> PurchasePage:
    """The signed-in user's purchases, newest first (RLS shows only theirs).
    Raises ValidationError(invalid_cursor)."""
    at, after = decode_cursor(cursor) if cursor else (None, None)
    rows = (await session.execute(_LIST, {"at": at, "id": after, "limit": limit + 1})).all()
    items = [
        PurchaseOut(
            id=r.id,
            pack_id=r.pack_id,
            stars=r.stars,
            vibe=str(int(r.vibe)),
            status=r.status,
            created_at=r.created_at,
            refunded_at=r.refunded_at,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return PurchasePage(items, encode_cursor(items[-1].created_at, items[-1].id) if more else None)
