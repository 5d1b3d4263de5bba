"""The transfer use case: a confirmation is decided before its send, reopened if the send
fails, and sent on a later press if a crash left it decided with no transfer."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db.database import Database
from services.errors import InsufficientFunds
from services.ledger.service import AssetRegistry
from services.transfers.config import P2PRules
from services.transfers.errors import RequestAlreadyCancelled, RequestAlreadyConfirmed
from services.transfers.usecase import SessionSends, Transfers
from services.users.cache import IdentityCache
from tests.ledger_helpers import available, fund, make_user

_DECISION = text("SELECT decision FROM tokens.p2p_requests WHERE id = :id")


def transfers(db: Database) -> Transfers:
    # The bot's executor: a refused send leaves nothing in the ledger, so it can be retried.
    return Transfers(
        db, P2PRules(fee_bps=0, daily_limit="0"), AssetRegistry(), SessionSends(db), IdentityCache()
    )


async def test_a_failed_send_reopens_the_request(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 5_000_000)
    use = transfers(db)
    proposal = await use.propose(sender=ann, recipient="@bob", amount="10", asset=None, memo=None)
    with pytest.raises(InsufficientFunds):
        await use.confirm(sender=ann, request_id=proposal.id)
    async with db.service() as session:
        assert await session.scalar(_DECISION, {"id": proposal.id}) is None
    await fund(db, ann.id, 5_000_000)
    receipt = await use.confirm(sender=ann, request_id=proposal.id)
    assert (receipt.amount, receipt.replayed) == (10_000_000, False)
    assert await available(db, bob.id) == 10_000_000
    with pytest.raises(RequestAlreadyConfirmed):
        await use.cancel(sender=ann, request_id=proposal.id)


async def test_a_confirmation_left_without_its_transfer_is_sent_on_the_next_press(
    db: Database,
) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 5_000_000)
    use = transfers(db)
    proposal = await use.propose(sender=ann, recipient="@bob", amount="1", asset=None, memo=None)
    async with db.service() as session:  # what a crash between decision and send leaves
        await session.execute(
            text(
                "UPDATE tokens.p2p_requests SET decision = 'confirmed', decided_at = now()"
                " WHERE id = :id"
            ),
            {"id": proposal.id},
        )
    # Decided a moment ago: the send may be under way, so the press is told so.
    with pytest.raises(RequestAlreadyConfirmed):
        await use.confirm(sender=ann, request_id=proposal.id)
    async with db.service() as session:
        await session.execute(
            text(
                "UPDATE tokens.p2p_requests SET decided_at = now() - interval '2 minutes'"
                " WHERE id = :id"
            ),
            {"id": proposal.id},
        )
    receipt = await use.confirm(sender=ann, request_id=proposal.id)
    assert (receipt.amount, receipt.replayed) == (1_000_000, False)
    assert await available(db, bob.id) == 1_000_000
    with pytest.raises(RequestAlreadyConfirmed):  # sent now: the transfer exists
        await use.confirm(sender=ann, request_id=proposal.id)


async def test_cancel_then_confirm_moves_nothing(db: Database) -> None:
    ann, _ = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 5_000_000)
    use = transfers(db)
    proposal = await use.propose(sender=ann, recipient="@bob", amount="1", asset=None, memo=None)
    await use.cancel(sender=ann, request_id=proposal.id)
    with pytest.raises(RequestAlreadyCancelled):
        await use.confirm(sender=ann, request_id=proposal.id)
    assert await available(db, ann.id) == 5_000_000
