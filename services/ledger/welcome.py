"""The welcome bonus: new users get VIBE from issuance, once, in the transaction creating them.

Best effort: a bonus the ledger refuses (the supply cap reached, a limit lowered below it) is
rolled back to its savepoint and logged, and the user is created without it. Nobody is kept
out of the bot by the bonus. Its id derives from the user, so paying it later (a retry of
the hook) still pays once; a refusal is not stored, so such a retry is not bound by it.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from db.database import ServiceTx
from db.models import User
from services.errors import DomainError
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.schemas import Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.users.schemas import Origin
from services.users.service import OnCreated

log = logging.getLogger(__name__)


def welcome_bonus(amount: int) -> OnCreated | None:
    """The registration hook granting `amount` VIBE units; None when the bonus is disabled (0)."""
    if amount <= 0:
        return None

    async def grant(session: ServiceTx, user: User, origin: Origin) -> None:
        try:
            await pay_welcome_bonus(session, user, amount)
        except DomainError as error:
            log.warning("welcome bonus for user %s not paid: %s", user.id, error.code)
        except DBAPIError as error:
            if error.connection_invalidated:
                raise
            log.error("welcome bonus for user %s failed: %r", user.id, error)

    return grant


async def pay_welcome_bonus(session: ServiceTx, user: User, amount: int) -> bool:
    """Pay the user's welcome bonus unless it was paid; True if this call paid it.

    In a savepoint: a refusal is rolled back rather than remembered under the bonus's id, so a
    later call can still pay it. Raises what `services.ledger.service.apply` raises
    (Conflict(supply_exceeded), ValidationError(amount_too_large), ...).
    """
    # The id derives from the user, so however often this runs, it pays once.
    bonus = Transfer(
        id=transfer_id("welcome", user.id),
        debit=system_account("issuance"),
        credit=user_account(user.id),
        asset=DEFAULT_ASSET,
        amount=amount,
        code="welcome_bonus",
    )
    async with session.begin_nested():
        outcome = await apply(session, [bonus])
    return not outcome.replayed
