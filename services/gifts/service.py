"""Gifts: a direct gift is a P2P transfer with a message; a link or a red packet holds its
shares in escrow until each is claimed once, cancelled or expired.

A gift link is a packet of one share. Each share is a ledger hold from the creator to
`system:escrow#<shard>`; a claim posts the share's hold and pays the claimer from escrow in one
linked batch, so a share is paid at most once and a cancelled or expired gift returns exactly
what was not claimed. Claims and cancels of one gift queue on its row (`FOR UPDATE`), and each
share's `claimed_by` is set once (`WHERE claimed_by IS NULL`), one share per user and gift.

The link's secret (192 bits) is an HMAC of the gift's id under the server's link key: only
its sha256 is stored, so a copy of the database alone opens no gift, while the creator can be
offered their open links again (inline mode, `open_links`). It is never logged or put in an
error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx
from db.models import User
from services.gifts.errors import (
    GiftAlreadyClaimed,
    GiftNotCancellable,
    GiftNotForYou,
    GiftNotFound,
    GiftUnavailable,
    InvalidGift,
    InvalidShares,
    OwnGift,
)
from services.gifts.schemas import (
    GIFT_CODE,
    GIFT_HOLD_CODE,
    MAX_MESSAGE,
    MAX_SHARES,
    Claim,
    Gift,
    GiftKind,
    Preview,
    Split,
)
from services.ledger.amounts import format_amount
from services.ledger.errors import first_failure, ledger_error
from services.ledger.limits import check_amount
from services.ledger.schemas import Asset, ResolveHold, Transfer
from services.ledger.service import (
    apply,
    create_transfers,
    system_account,
    transfer_id,
    user_account,
)
from services.notifications.service import enqueue
from services.transfers.errors import AssetNotTransferable, InvalidMemo, RecipientBanned
from services.transfers.service import P2P_CODE, display_name
from services.users.access import is_banned
from services.validation import clean_text

SHARDS = 256
# 24 random bytes: 192 bits, 32 URL-safe characters, well inside a 64-character /start payload.
SECRET_BYTES = 24
_SECRET = re.compile(r"[A-Za-z0-9_-]{22,64}")

_INSERT = text(
    """
    INSERT INTO gifts.gifts (id, kind, creator_id, recipient_id, asset, amount, shares, split,
        message, secret_hash, shard, status, expires_at)
    VALUES (:id, :kind, :creator, :recipient, :asset, :amount, :shares, :split, :message,
        :hash, :shard, :status, now() + make_interval(secs => :ttl))
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)
_INSERT_SHARES = text(
    "INSERT INTO gifts.gift_shares (gift_id, idx, amount) "
    "SELECT :gift, i - 1, a FROM unnest(CAST(:amounts AS numeric[])) WITH ORDINALITY AS s(a, i)"
)
_LOCK_BY_SECRET = text(
    "SELECT g.id, g.kind, g.creator_id, g.recipient_id, g.asset, s.decimals, g.message, g.shard, "
    "g.status, g.expires_at <= now() AS expired, c.telegram_id AS creator_chat "
    "FROM gifts.gifts g JOIN tokens.assets s ON s.code = g.asset "
    "JOIN auth.users c ON c.id = g.creator_id "
    "WHERE g.secret_hash = :hash FOR UPDATE OF g"
)
_LOCK_BY_ID = text(
    "SELECT id, creator_id, asset, shard, status FROM gifts.gifts WHERE id = :id FOR UPDATE"
)
_MINE = text("SELECT 1 FROM gifts.gift_shares WHERE gift_id = :gift AND claimed_by = :user")
_TAKE_SHARE = text(
    """
    UPDATE gifts.gift_shares SET claimed_by = :user, claimed_at = now()
    WHERE gift_id = :gift AND claimed_by IS NULL
      AND idx = (SELECT min(idx) FROM gifts.gift_shares WHERE gift_id = :gift
                 AND claimed_by IS NULL)
    RETURNING idx, amount
    """
)
_LEFT = text("SELECT count(*) FROM gifts.gift_shares WHERE gift_id = :gift AND claimed_by IS NULL")
_UNCLAIMED = text(
    "SELECT idx FROM gifts.gift_shares WHERE gift_id = :gift AND claimed_by IS NULL ORDER BY idx"
)
_RESOLVE = text(
    "UPDATE gifts.gifts SET status = :status, resolved_at = now() "
    "WHERE id = :id AND status = 'open'"
)
_DUE = text(
    "SELECT id FROM gifts.gifts WHERE status = 'open' AND expires_at <= now() "
    "ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_SELECT = """
    SELECT g.id, g.kind, g.creator_id, g.recipient_id, g.asset, s.decimals, g.amount, g.shares,
           g.split, g.message, g.status, g.created_at, g.expires_at,
           (SELECT count(*) FROM gifts.gift_shares c
             WHERE c.gift_id = g.id AND c.claimed_by IS NOT NULL) AS claimed_shares,
           (SELECT coalesce(sum(c.amount), 0) FROM gifts.gift_shares c
             WHERE c.gift_id = g.id AND c.claimed_by IS NOT NULL) AS claimed_amount
    FROM gifts.gifts g JOIN tokens.assets s ON s.code = g.asset
"""
_GET = text(_SELECT + " WHERE g.id = :id")
_LIST = text(
    _SELECT
    + """
    WHERE g.creator_id = :user OR g.recipient_id = :user
       OR EXISTS (SELECT FROM gifts.gift_shares c WHERE c.gift_id = g.id AND c.claimed_by = :user)
    ORDER BY g.created_at DESC, g.id LIMIT :limit
    """
)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def link_secret(key: bytes, gift_id: UUID) -> str:
    """The claim secret of a link or packet: 24 bytes of HMAC-SHA256(key, id), 32 URL-safe
    characters. Unguessable without the key; re-derivable by the server for the creator."""
    digest = hmac.new(key, b"gift-link:" + gift_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:SECRET_BYTES]).decode()


def share_hold_id(gift_id: UUID, idx: int) -> UUID:
    return transfer_id(GIFT_HOLD_CODE, gift_id, idx)


def split_amount(total: int, shares: int, split: Split) -> list[int]:
    """`shares` positive integers summing to `total` exactly.

    Equal: the remainder goes one unit each to the first shares. Random: `shares - 1` distinct
    cut points drawn uniformly from 1..total-1 (a system CSPRNG), so every share is at least 1.
    Raises InvalidShares when the total cannot give every share a unit.
    """
    if not 1 <= shares <= MAX_SHARES or total < shares:
        raise InvalidShares("every share needs at least one unit", max=MAX_SHARES)
    if split == "equal":
        base, rest = divmod(total, shares)
        return [base + (1 if i < rest else 0) for i in range(shares)]
    # A set of draws, not `sample(range(...))`: that refuses a range beyond a C ssize_t.
    cuts: set[int] = set()
    while len(cuts) < shares - 1:
        cuts.add(1 + secrets.randbelow(total - 1))
    bounds = [0, *sorted(cuts), total]
    return [bounds[i + 1] - bounds[i] for i in range(shares)]


def _check(
    creator: User, asset: Asset, amount: int, recipient: User | None, message: str | None
) -> str | None:
    if not asset.transferable:
        raise AssetNotTransferable("this asset cannot be sent", asset=asset.code)
    check_amount(asset, amount)
    if recipient is not None and recipient.id == creator.id:
        raise OwnGift("you cannot gift yourself")
    if recipient is not None and is_banned(recipient):
        raise RecipientBanned("the recipient cannot receive transfers")
    if message is None or message.strip() == "":
        return None
    return clean_text(message.strip(), max_length=MAX_MESSAGE, error=InvalidMemo)


async def create(
    session: ServiceTx,
    *,
    gift_id: UUID,
    creator: User,
    kind: GiftKind,
    asset: Asset,
    amount: int,
    recipient: User | None = None,
    shares: int = 1,
    split: Split = "equal",
    message: str | None = None,
    ttl: timedelta,
    daily_limit: int | None,
    link_key: bytes,
) -> Gift:
    """A gift; `gift_id` derives from the cause, and a replay answers the gift without its
    secret (it is not stored). `amount` is the total; `link_key` derives the secret.

    `daily_limit`: the sender's P2P daily limit in this asset (None: none). A direct gift, and
    the escrow of a link or packet when it is made, count on the same daily counter as P2P
    sends (the ledger checks it on the locked account row), so gifts cannot go around it; what
    is later voided back does not uncount.

    Raises InvalidGift (a direct gift without a recipient, a packet with a named recipient),
    InvalidShares, OwnGift, AssetNotTransferable, RecipientBanned, InvalidMemo, InvalidAmount,
    AmountTooLarge and the ledger's refusals (InsufficientFunds, DailyLimitExceeded).
    """
    message = _check(creator, asset, amount, recipient, message)
    if kind == "direct" and recipient is None:
        raise InvalidGift("a direct gift needs a recipient")
    if kind == "packet" and recipient is not None:
        raise InvalidGift("a red packet is for anyone with the link")
    if kind != "packet":
        shares, split = 1, "equal"
    amounts = split_amount(amount, shares, split)
    secret = None if kind == "direct" else link_secret(link_key, gift_id)
    shard = gift_id.int % SHARDS
    inserted = await session.scalar(
        _INSERT,
        {
            "id": gift_id,
            "kind": kind,
            "creator": creator.id,
            "recipient": recipient.id if recipient is not None else None,
            "asset": asset.code,
            "amount": amount,
            "shares": shares,
            "split": split,
            "message": message,
            "hash": secret_hash(secret) if secret is not None else None,
            "shard": shard,
            "status": "sent" if kind == "direct" else "open",
            # A direct gift is done at once: it never expires.
            "ttl": ttl.total_seconds() if kind != "direct" else None,
        },
    )
    if inserted is None:
        return await _replayed(session, gift_id, creator)
    if kind == "direct":
        assert recipient is not None
        await _send_direct(
            session, gift_id, creator, recipient, asset, amount, message, daily_limit
        )
    else:
        await session.execute(_INSERT_SHARES, {"gift": gift_id, "amounts": amounts})
        escrow = system_account("escrow", shard=shard)
        await _pay(
            session,
            [
                Transfer(
                    id=share_hold_id(gift_id, idx),
                    debit=user_account(creator.id),
                    credit=escrow,
                    asset=asset.code,
                    amount=share,
                    code=GIFT_HOLD_CODE,
                    kind="pending",
                    metadata={"gift_id": str(gift_id)},
                    daily_limit=daily_limit,
                    limit_code=P2P_CODE,
                )
                for idx, share in enumerate(amounts)
            ],
            asset,
            daily_limit,
        )
    gift = await get(session, gift_id)
    return Gift(**{**gift.__dict__, "secret": secret})


async def _replayed(session: ServiceTx, gift_id: UUID, creator: User) -> Gift:
    gift = await get(session, gift_id)
    if gift.creator_id != creator.id:
        raise GiftNotFound("no such gift")
    return gift


async def _send_direct(
    session: ServiceTx,
    gift_id: UUID,
    creator: User,
    recipient: User,
    asset: Asset,
    amount: int,
    message: str | None,
    daily_limit: int | None,
) -> None:
    await _pay(
        session,
        [
            Transfer(
                id=transfer_id(GIFT_CODE, gift_id),
                debit=user_account(creator.id),
                credit=user_account(recipient.id),
                asset=asset.code,
                amount=amount,
                code=GIFT_CODE,
                metadata={"gift_id": str(gift_id), **({"memo": message} if message else {})},
                daily_limit=daily_limit,
                limit_code=P2P_CODE,
            )
        ],
        asset,
        daily_limit,
    )
    params = {
        "amount": format_amount(amount, asset.decimals),
        "asset": asset.code,
        "sender": display_name(creator),
        "message": message or "",
    }
    await enqueue(
        session,
        chat_id=recipient.telegram_id,
        user_id=recipient.id,
        template="gifts.received" if message else "gifts.received_plain",
        params=params,
        dedup_key=f"gift:{gift_id}",
    )


async def _pay(
    session: ServiceTx, legs: list[Transfer], asset: Asset, daily_limit: int | None
) -> None:
    """The creator's side of a gift, one linked batch; a refusal raises as a P2P send's does
    (daily_limit_exceeded with the limit and asset)."""
    failure = first_failure(await create_transfers(session, legs, linked=True))
    if failure is None:
        return
    details: dict[str, str] = {}
    if failure == "daily_limit_exceeded" and daily_limit is not None:
        details = {"limit": format_amount(daily_limit, asset.decimals), "asset": asset.code}
    raise ledger_error(failure, **details)


async def claim(session: ServiceTx, *, claimer: User, secret: str) -> Claim:
    """Take one share of the gift behind `secret`.

    Raises GiftUnavailable (unknown, expired, cancelled or fully claimed), GiftAlreadyClaimed
    (this user has a share of it), GiftNotForYou (named for someone else), OwnGift.
    """
    if _SECRET.fullmatch(secret) is None:
        raise GiftUnavailable("this gift is not available")
    gift = (await session.execute(_LOCK_BY_SECRET, {"hash": secret_hash(secret)})).one_or_none()
    if gift is None or gift.status != "open" or gift.expired:
        raise GiftUnavailable("this gift is not available")
    if gift.creator_id == claimer.id:
        raise OwnGift("this is your own gift; cancel it to take it back")
    if gift.recipient_id is not None and gift.recipient_id != claimer.id:
        raise GiftNotForYou("this gift is for someone else")
    if await session.scalar(_MINE, {"gift": gift.id, "user": claimer.id}) is not None:
        raise GiftAlreadyClaimed("you have already claimed this gift")
    share = (
        await session.execute(_TAKE_SHARE, {"gift": gift.id, "user": claimer.id})
    ).one_or_none()
    if share is None:
        raise GiftUnavailable("this gift is not available")
    idx, amount = int(share.idx), int(share.amount)
    escrow = system_account("escrow", shard=gift.shard)
    await apply(
        session,
        [
            ResolveHold(
                id=transfer_id("gift_post", gift.id, idx),
                pending_id=share_hold_id(gift.id, idx),
                kind="post",
            ),
            Transfer(
                id=transfer_id("gift_claim", gift.id, idx),
                debit=escrow,
                credit=user_account(claimer.id),
                asset=gift.asset,
                amount=amount,
                code=GIFT_CODE,
                metadata={"gift_id": str(gift.id), "share": idx},
            ),
        ],
    )
    if await session.scalar(_LEFT, {"gift": gift.id}) == 0:
        await session.execute(_RESOLVE, {"id": gift.id, "status": "claimed"})
    # The creator hears of each claim, once (the share is claimed once).
    await enqueue(
        session,
        chat_id=gift.creator_chat,
        user_id=gift.creator_id,
        template="gifts.claimed_notice",
        params={
            "amount": format_amount(amount, gift.decimals),
            "asset": gift.asset,
            "claimer": display_name(claimer),
        },
        dedup_key=f"gift_claim:{gift.id}:{idx}",
    )
    return Claim(
        gift_id=gift.id,
        asset=gift.asset,
        decimals=gift.decimals,
        amount=amount,
        share=idx,
        message=gift.message,
        creator_id=gift.creator_id,
    )


_PEEK = text(
    "SELECT g.id, g.kind, g.creator_id, g.recipient_id, g.asset, s.decimals, g.amount, g.shares, "
    "g.message, g.status, g.expires_at, g.expires_at <= now() AS expired, "
    "c.first_name AS creator_first_name, c.username AS creator_username, "
    "c.telegram_id AS creator_telegram_id, "
    "(SELECT count(*) FROM gifts.gift_shares x "
    "  WHERE x.gift_id = g.id AND x.claimed_by IS NULL) AS shares_left, "
    "EXISTS (SELECT FROM gifts.gift_shares x "
    "  WHERE x.gift_id = g.id AND x.claimed_by = :viewer) AS mine "
    "FROM gifts.gifts g JOIN tokens.assets s ON s.code = g.asset "
    "JOIN auth.users c ON c.id = g.creator_id WHERE g.secret_hash = :hash"
)
_OPEN_LINKS = text(
    _SELECT
    + """
    WHERE g.creator_id = :user AND g.kind IN ('link', 'packet') AND g.status = 'open'
      AND g.expires_at > now() AND (CAST(:gift AS uuid) IS NULL OR g.id = :gift)
    ORDER BY g.created_at DESC, g.id LIMIT :limit
    """
)
_HASHES = text("SELECT id, secret_hash FROM gifts.gifts WHERE id = ANY(:ids)")


async def preview(session: ServiceTx, *, viewer: User, secret: str) -> Preview:
    """What a claim of `secret` would be, for the claim view; reads without locking.

    Raises the refusals a claim would raise now: GiftUnavailable, GiftAlreadyClaimed,
    GiftNotForYou, OwnGift.
    """
    if _SECRET.fullmatch(secret) is None:
        raise GiftUnavailable("this gift is not available")
    row = (
        await session.execute(_PEEK, {"hash": secret_hash(secret), "viewer": viewer.id})
    ).one_or_none()
    if row is None or row.status != "open" or row.expired or row.shares_left == 0:
        raise GiftUnavailable("this gift is not available")
    if row.creator_id == viewer.id:
        raise OwnGift("this is your own gift; cancel it to take it back")
    if row.recipient_id is not None and row.recipient_id != viewer.id:
        raise GiftNotForYou("this gift is for someone else")
    if row.mine:
        raise GiftAlreadyClaimed("you have already claimed this gift")
    # As `display_name` names a user: the @username, else the first name.
    sender = (
        f"@{row.creator_username}"
        if row.creator_username
        else row.creator_first_name or str(row.creator_telegram_id)
    )
    return Preview(
        kind=row.kind,
        asset=row.asset,
        decimals=row.decimals,
        amount=int(row.amount),
        shares=row.shares,
        shares_left=int(row.shares_left),
        message=row.message,
        sender=sender,
        expires_at=row.expires_at,
    )


async def open_links(
    session: ServiceTx,
    *,
    creator: User,
    link_key: bytes,
    limit: int = 20,
    gift_id: UUID | None = None,
) -> list[Gift]:
    """The creator's open links and packets, newest first, each with its secret: only those
    whose secret `link_key` derives (a gift made under another key is left out, never shown
    with a link that would not open it)."""
    gifts = [
        _gift(row)
        for row in (
            await session.execute(
                _OPEN_LINKS, {"user": creator.id, "limit": limit, "gift": gift_id}
            )
        ).all()
    ]
    stored = {
        row.id: bytes(row.secret_hash)
        for row in (await session.execute(_HASHES, {"ids": [g.id for g in gifts]})).all()
    }
    found = []
    for gift in gifts:
        secret = link_secret(link_key, gift.id)
        if hmac.compare_digest(secret_hash(secret), stored.get(gift.id, b"")):
            found.append(Gift(**{**gift.__dict__, "secret": secret}))
    return found


async def cancel(session: ServiceTx, *, creator: User, gift_id: UUID) -> Gift:
    """Void the unclaimed shares of the creator's open gift.

    Raises GiftNotFound (no such gift of this user), GiftNotCancellable (claimed, cancelled,
    expired, or a direct gift).
    """
    gift = (await session.execute(_LOCK_BY_ID, {"id": gift_id})).one_or_none()
    if gift is None or gift.creator_id != creator.id:
        raise GiftNotFound("no such gift")
    if gift.status != "open":
        raise GiftNotCancellable("this gift can no longer be cancelled", status=gift.status)
    await _release(session, gift_id, "cancelled")
    return await get(session, gift_id)


async def _release(session: ServiceTx, gift_id: UUID, status: str) -> None:
    """Void every unclaimed share's hold and close the gift (its row locked by the caller)."""
    unclaimed: Sequence[int] = (await session.scalars(_UNCLAIMED, {"gift": gift_id})).all()
    if unclaimed:
        await apply(
            session,
            [
                ResolveHold(
                    id=transfer_id("gift_void", gift_id, idx),
                    pending_id=share_hold_id(gift_id, idx),
                    kind="void",
                )
                for idx in unclaimed
            ],
        )
    await session.execute(_RESOLVE, {"id": gift_id, "status": status})


async def expire_due(session: ServiceTx, *, limit: int = 100) -> int:
    """Expire open gifts past their time; rows another instance holds are skipped."""
    due: Sequence[UUID] = (await session.scalars(_DUE, {"limit": limit})).all()
    for gift_id in due:
        await _release(session, gift_id, "expired")
    return len(due)


async def get(session: ServiceTx, gift_id: UUID) -> Gift:
    row = (await session.execute(_GET, {"id": gift_id})).one_or_none()
    if row is None:
        raise GiftNotFound("no such gift")
    return _gift(row)


async def list_for(session: ServiceTx, user: User, *, limit: int = 50) -> list[Gift]:
    """Gifts the user sent, was named in, or claimed a share of; newest first."""
    rows = (await session.execute(_LIST, {"user": user.id, "limit": limit})).all()
    return [_gift(row) for row in rows]


def _gift(row: Any) -> Gift:
    return Gift(
        id=row.id,
        kind=row.kind,
        creator_id=row.creator_id,
        recipient_id=row.recipient_id,
        asset=row.asset,
        decimals=row.decimals,
        amount=int(row.amount),
        shares=row.shares,
        claimed_shares=int(row.claimed_shares),
        claimed_amount=int(row.claimed_amount),
        split=row.split,
        message=row.message,
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )
