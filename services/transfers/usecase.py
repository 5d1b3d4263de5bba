"""A P2P transfer as one use case, whichever door it comes through.

The Mini App sends at once (`Transfers.send`), the bot proposes and sends on a confirmation
(`propose`, `confirm`, `cancel`); both end in the same plan (`plan_send`) handed to one
`SendExecutor`, chosen at the composition root: the `SendBatcher` (concurrent sends share
ledger statements) or `SessionSends` (each send its own transaction).

No transaction or pooled connection is held while a send waits for its executor: reads are
one autocommit statement each, and the decision on a confirmation commits before its send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from db.database import Database
from db.models import User
from services.errors import DomainError
from services.ledger.amounts import parse_amount
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.service import AssetRegistry
from services.transfers.config import P2PRules
from services.transfers.requests import (
    Proposal,
    cancel,
    decide_confirmed,
    propose,
    undo_confirmed,
)
from services.transfers.service import (
    PlannedSend,
    Receipt,
    execute,
    find_recipient,
    plan_send,
    recipient_key,
    resolve_recipient,
)
from services.users.cache import IdentityCache


class SendExecutor(Protocol):
    async def submit(self, planned: PlannedSend) -> Receipt:
        """Apply a send planned by `plan_send`; raises its outcome's error."""
        ...


class SessionSends:
    """Each send in a transaction of its own (the bot's pace needs no batching)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def submit(self, planned: PlannedSend) -> Receipt:
        async with self._db.service() as session:
            return await execute(session, planned)


@dataclass(frozen=True)
class Transfers:
    db: Database
    rules: P2PRules
    assets: AssetRegistry
    executor: SendExecutor
    identity: IdentityCache

    async def send(
        self,
        *,
        sender: User,
        recipient: str,
        asset: str,
        amount: int,
        transfer_id: UUID,
        memo: str | None = None,
    ) -> Receipt:
        """Send now. `transfer_id` derives from the cause: a replay answers the first outcome.

        Raises AssetNotFound and what `resolve_recipient`, `plan_send` and the ledger raise
        (`SEND_ERRORS`, ExistsWithDifferentFields for the id reused with other fields).
        """
        found = self.assets.cached(asset)
        # Recipients signed in lately on this process are known without a read.
        to = self.identity.find(*recipient_key(recipient.strip())) if found is not None else None
        if found is None or to is None:
            async with self.db.statement() as conn:
                found = await self.assets.get(conn, asset)
                to = await find_recipient(conn, recipient)
        planned = plan_send(
            self.rules,
            sender=sender,
            recipient=to,
            asset=found,
            amount=amount,
            transfer_id=transfer_id,
            memo=memo,
        )
        return await self.executor.submit(planned)

    async def propose(
        self, *, sender: User, recipient: str, amount: str, asset: str | None, memo: str | None
    ) -> Proposal:
        """Check a send and store it for confirmation; `amount` is human (`10.5`).

        Raises AssetNotFound, what `parse_amount`, `resolve_recipient` and `check_transfer`
        raise.
        """
        async with self.db.service() as session:
            found = await self.assets.get(session, asset or DEFAULT_ASSET)
            units = parse_amount(amount, found.decimals)
            to = await resolve_recipient(session, recipient)
            return await propose(
                session,
                self.rules,
                sender=sender,
                recipient=to,
                asset=found,
                amount=units,
                memo=memo,
            )

    async def known_assets(self) -> frozenset[str]:
        async with self.db.statement() as conn:
            return frozenset(await self.assets.all(conn))

    async def confirm(self, *, sender: User, request_id: UUID) -> Receipt:
        """Send a proposed transfer, once. Raises RequestAlreadyConfirmed,
        RequestAlreadyCancelled, RequestExpired, RequestNotFound, and what the send raises
        (then the request stays open)."""
        async with self.db.service() as session:
            decided = await decide_confirmed(session, sender=sender, request_id=request_id)
            recipient = await session.get(User, decided.recipient_id)
            assert recipient is not None  # a foreign key
            asset = await self.assets.get(session, decided.asset)
            # Checked again: the rules or the recipient may have changed since the proposal.
            planned = plan_send(
                self.rules,
                sender=sender,
                recipient=recipient,
                asset=asset,
                amount=decided.amount,
                transfer_id=decided.transfer_id,
                memo=decided.memo,
            )
        try:
            return await self.executor.submit(planned)
        except DomainError:
            async with self.db.service() as session:
                await undo_confirmed(session, request_id)
            raise

    async def cancel(self, *, sender: User, request_id: UUID) -> None:
        """Raises RequestAlreadyConfirmed, RequestAlreadyCancelled or RequestNotFound."""
        async with self.db.service() as session:
            await cancel(session, sender=sender, request_id=request_id)
