"""A user's transactions, newest first, with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx
from services.ledger.schemas import Counterparty, TransactionOut
from services.validation import InvalidCursor

_STATUS = {None: "pending", "post": "posted", "void": "voided", "expire": "expired"}

# Runs as the service role with an explicit owner filter: the counterparty's name lives in
# rows the user's own role may not read. Holds show once, with their resolution as status.
_HISTORY = text(
    """
    WITH mine AS (
        SELECT id FROM tokens.accounts
        WHERE user_id = :user_id AND kind = 'wallet'
          AND (CAST(:asset AS text) IS NULL OR asset = CAST(:asset AS text))
    ), moves AS (
        SELECT t.*, 'out' AS direction, t.credit_account_id AS other_id
        FROM tokens.transfers t WHERE t.debit_account_id IN (SELECT id FROM mine)
        UNION ALL
        SELECT t.*, 'in', t.debit_account_id
        FROM tokens.transfers t WHERE t.credit_account_id IN (SELECT id FROM mine)
    )
    SELECT m.id, m.asset, s.decimals, coalesce(res.amount, m.amount) AS amount, m.direction,
           m.code, res.kind AS resolution, m.kind, m.metadata ->> 'memo' AS memo, m.created_at,
           u.id AS other_user_id, u.username, u.first_name
    FROM moves m
    JOIN tokens.assets s ON s.code = m.asset
    JOIN tokens.accounts o ON o.id = m.other_id
    LEFT JOIN auth.users u ON u.id = o.user_id
    LEFT JOIN tokens.transfers res ON res.pending_id = m.id AND res.result = 'ok'
    WHERE m.result = 'ok' AND m.kind IN ('single', 'pending')
      AND (CAST(:before_at AS timestamptz) IS NULL
           OR (m.created_at, m.id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS uuid)))
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class Page:
    items: list[TransactionOut]
    next_cursor: str | None


def encode_cursor(created_at: datetime, transfer_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{transfer_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,200}")
_DECODED = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?[+-][0-9]{2}:[0-9]{2}"
    r"\|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValidationError(invalid_cursor).

    Our cursors carry an aware timestamp; a forged one may be naive, or aware but beyond what
    a UTC `datetime` (and so the driver) can hold, like `0001-01-01T00:00:00+05:00`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        # What encode_cursor writes and nothing else: fromisoformat and UUID would also take
        # other digits than ASCII's, and trailing bytes, from a forged cursor.
        if not (_CURSOR.fullmatch(cursor) and _DECODED.fullmatch(raw)):
            raise ValueError("not one of our cursors")
        at, _, ident = raw.partition("|")
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None:
            raise ValueError("a cursor's timestamp has an offset")
        return created_at.astimezone(UTC), UUID(ident)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("cursor is not valid") from None


async def history(
    session: ServiceTx,
    user_id: UUID,
    *,
    asset: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> Page:
    """Raises ValidationError(invalid_cursor)."""
    before_at, before_id = decode_cursor(cursor) if cursor else (None, None)
    rows = (
        await session.execute(
            _HISTORY,
            {
                "user_id": user_id,
                "asset": asset,
                "before_at": before_at,
                "before_id": before_id,
                "limit": limit + 1,
            },
        )
    ).all()
    items = [
        TransactionOut(
            id=r.id,
            asset=r.asset,
            decimals=r.decimals,
            amount=str(int(r.amount)),
            direction=r.direction,
            code=r.code,
            status=_STATUS[r.resolution] if r.kind == "pending" else "posted",
            counterparty=Counterparty(
                id=r.other_user_id, username=r.username, first_name=r.first_name
            )
            if r.other_user_id is not None
            else None,
            memo=r.memo,
            created_at=r.created_at,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more and items else None
    return Page(items=items, next_cursor=next_cursor)
