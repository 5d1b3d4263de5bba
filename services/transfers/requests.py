"""P2P transfers proposed in the bot and confirmed (or cancelled) with a button, once.

The transfer id derives from the request id, and the request's decision is set once: pressing
Confirm twice, or after Cancel, cannot move tokens a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Row, text

from db.database import ServiceTx
from db.models import User
from services.errors import Conflict
from services.ledger.schemas import Asset
from services.ledger.service import transfer_id
from services.transfers.config import P2PRules
from services.transfers.errors import (
    RequestAlreadyCancelled,
    RequestAlreadyConfirmed,
    RequestExpired,
    RequestNotFound,
)
from services.transfers.service import check_transfer

# A confirmation left unanswered this long must be asked again: the sender's intent is stale.
REQUEST_TTL = timedelta(minutes=15)

_CREATE = text(
    """
    INSERT INTO tokens.p2p_requests (sender_id, recipient_id, asset, amount, memo)
    VALUES (:sender_id, :recipient_id, :asset, :amount, :memo) RETURNING id
    """
)
# A stale request is not decided: it stays open, and answers `request_expired` every time.
_DECIDE = text(
    """
    UPDATE tokens.p2p_requests SET decision = :decision, decided_at = now()
    WHERE id = :id AND sender_id = :sender_id AND decision IS NULL
      AND (:decision = 'cancelled' OR created_at >= now() - make_interval(secs => :ttl))
    RETURNING recipient_id, asset, amount, memo
    """
)
_ALREADY: dict[str, type[Conflict]] = {
    "confirmed": RequestAlreadyConfirmed,
    "cancelled": RequestAlreadyCancelled,
}

# A confirmation is decided before its transfer is sent, and undone if the send fails; a
# process that died in between leaves it decided with no transfer: `abandoned`.
_STATE = text(
    """
    SELECT r.decision, r.recipient_id, r.asset, r.amount, r.memo,
           r.created_at < now() - make_interval(secs => :ttl) AS stale,
           coalesce(r.decision = 'confirmed'
                    AND r.decided_at < now() - make_interval(secs => :grace)
                    AND NOT EXISTS (SELECT FROM tokens.transfers t WHERE t.id = :transfer_id),
                    false) AS abandoned
    FROM tokens.p2p_requests r WHERE r.id = :id AND r.sender_id = :sender_id
    """
)
_UNDO = text(
    "UPDATE tokens.p2p_requests SET decision = NULL, decided_at = NULL"
    " WHERE id = :id AND decision = 'confirmed'"
)
# Longer than any send takes (the batcher answers in milliseconds, a statement times out).
ABANDONED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Proposal:
    id: UUID
    recipient: User
    asset: Asset
    amount: int
    fee: int
    memo: str | None


async def propose(
    session: ServiceTx,
    rules: P2PRules,
    *,
    sender: User,
    recipient: User,
    asset: Asset,
    amount: int,
    memo: str | None = None,
) -> Proposal:
    """Checks the rules now (a mistake is heard before confirming), then stores the request."""
    fee = check_transfer(
        rules, sender=sender, recipient=recipient, asset=asset, amount=amount, memo=memo
    )
    request_id: UUID = await session.scalar(
        _CREATE,
        {
            "sender_id": sender.id,
            "recipient_id": recipient.id,
            "asset": asset.code,
            "amount": amount,
            "memo": memo,
        },
    )
    return Proposal(
        id=request_id, recipient=recipient, asset=asset, amount=amount, fee=fee, memo=memo
    )


@dataclass(frozen=True)
class Confirmed:
    """A request decided `confirmed` now (or found abandoned): its transfer is to be sent."""

    transfer_id: UUID
    recipient_id: UUID
    asset: str
    amount: int
    memo: str | None


def request_transfer_id(request_id: UUID) -> UUID:
    return transfer_id("p2p-request", request_id)


async def decide_confirmed(session: ServiceTx, *, sender: User, request_id: UUID) -> Confirmed:
    """Decides the request before its transfer is sent, so a Cancel pressed meanwhile finds it
    confirmed; `undo_confirmed` reopens it if the send fails.

    Raises RequestAlreadyConfirmed, RequestAlreadyCancelled, RequestExpired, RequestNotFound.
    """
    params = {
        "id": request_id,
        "sender_id": sender.id,
        "decision": "confirmed",
        "ttl": REQUEST_TTL.total_seconds(),
    }
    state_params = {
        "id": request_id,
        "sender_id": sender.id,
        "ttl": REQUEST_TTL.total_seconds(),
        "grace": ABANDONED_AFTER.total_seconds(),
        "transfer_id": request_transfer_id(request_id),
    }
    row: Row[Any] | None = None
    # Twice at most: an open request that could not be decided was reopened just now by a
    # press whose send failed, and may be decided again.
    for _ in range(2):
        row = (await session.execute(_DECIDE, params)).one_or_none()
        if row is not None:
            break
        row = (await session.execute(_STATE, state_params)).one_or_none()
        if row is None:
            raise RequestNotFound("no such transfer request")
        if row.decision is None and row.stale:
            raise RequestExpired("this confirmation has expired; send again")
        if row.decision is not None and not row.abandoned:
            raise _ALREADY[row.decision]("this transfer was already " + row.decision)
        if row.abandoned:
            break
        row = None
    if row is None:
        raise RequestAlreadyConfirmed("this transfer is being confirmed")
    return Confirmed(
        transfer_id=request_transfer_id(request_id),
        recipient_id=row.recipient_id,
        asset=row.asset,
        amount=int(row.amount),
        memo=row.memo,
    )


async def undo_confirmed(session: ServiceTx, request_id: UUID) -> None:
    await session.execute(_UNDO, {"id": request_id})


async def cancel(session: ServiceTx, *, sender: User, request_id: UUID) -> None:
    """Raises RequestAlreadyConfirmed, RequestAlreadyCancelled or RequestNotFound."""
    await _decide(session, sender, request_id, "cancelled")


async def _decide(session: ServiceTx, sender: User, request_id: UUID, decision: str) -> Row[Any]:
    row = (
        await session.execute(
            _DECIDE,
            {
                "id": request_id,
                "sender_id": sender.id,
                "decision": decision,
                "ttl": REQUEST_TTL.total_seconds(),
            },
        )
    ).one_or_none()
    if row is not None:
        return row
    state = await session.scalar(_DECISION, {"id": request_id, "sender_id": sender.id})
    if state is None:
        raise RequestNotFound("no such transfer request")
    raise _ALREADY[state]("this transfer was already " + state)


_DECISION = text(
    "SELECT decision FROM tokens.p2p_requests WHERE id = :id AND sender_id = :sender_id"
)
