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
from services.ledger.service import AssetRegistry, transfer_id
from services.transfers.config import P2PRules
from services.transfers.errors import (
    RequestAlreadyCancelled,
    RequestAlreadyConfirmed,
    RequestExpired,
    RequestNotFound,
)
from services.transfers.service import Receipt, check_transfer, send

# A confirmation left unanswered this long must be asked again: the sender's intent is stale.
REQUEST_TTL = timedelta(minutes=15)

_CREATE = text(
    """
    INSERT INTO tokens.p2p_requests (sender_id, recipient_id, asset, amount, memo)
    VALUES (:sender_id, :recipient_id, :asset, :amount, :memo) RETURNING id
    """
)
_DECIDE = text(
    """
    UPDATE tokens.p2p_requests SET decision = :decision, decided_at = now()
    WHERE id = :id AND sender_id = :sender_id AND decision IS NULL
    RETURNING recipient_id, asset, amount, memo,
              created_at < now() - make_interval(secs => :ttl) AS stale
    """
)
_ALREADY: dict[str, type[Conflict]] = {
    "confirmed": RequestAlreadyConfirmed,
    "cancelled": RequestAlreadyCancelled,
}

_STATE = text("SELECT decision FROM tokens.p2p_requests WHERE id = :id AND sender_id = :sender_id")


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


async def confirm(
    session: ServiceTx, rules: P2PRules, assets: AssetRegistry, *, sender: User, request_id: UUID
) -> Receipt:
    """Sends the proposed transfer. Raises RequestAlreadyConfirmed, RequestAlreadyCancelled,
    RequestExpired, RequestNotFound and whatever `send` raises (then nothing is decided)."""
    row = await _decide(session, sender, request_id, "confirmed")
    if row.stale:
        raise RequestExpired("this confirmation has expired; send again")
    recipient = await session.get(User, row.recipient_id)
    assert recipient is not None  # a foreign key
    return await send(
        session,
        rules,
        sender=sender,
        recipient=recipient,
        asset=await assets.get(session, row.asset),
        amount=int(row.amount),
        transfer_id=transfer_id("p2p-request", request_id),
        memo=row.memo,
    )


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
    state = await session.scalar(_STATE, {"id": request_id, "sender_id": sender.id})
    if state is None:
        raise RequestNotFound("no such transfer request")
    raise _ALREADY[state]("this transfer was already " + state)
