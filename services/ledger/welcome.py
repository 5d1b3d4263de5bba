"""The welcome bonus: new users get VIBE from issuance, once, in the transaction creating them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User
from services.ledger.schemas import Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.users.service import OnCreated

WELCOME_ASSET = "VIBE"


def welcome_bonus(amount: int) -> OnCreated | None:
    """The registration hook granting `amount` VIBE units; None when the bonus is disabled (0)."""
    if amount <= 0:
        return None

    async def grant(session: AsyncSession, user: User) -> None:
        # The id derives from the user, so however often creation is retried, it pays once.
        await apply(
            session,
            [
                Transfer(
                    id=transfer_id("welcome", user.id),
                    debit=system_account("issuance"),
                    credit=user_account(user.id),
                    asset=WELCOME_ASSET,
                    amount=amount,
                    code="welcome_bonus",
                )
            ],
        )

    return grant
