"""A user's balances, one row per asset (zero rows included), read through RLS."""

from __future__ import annotations

from sqlalchemy import text

from db.database import UserTx
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.schemas import BalanceOut

# Runs as the user: the accounts policy shows only their own accounts.
_BALANCES = text(
    """
    SELECT s.code, s.decimals,
           coalesce(a.credits_posted - a.debits_posted, 0) AS posted,
           coalesce(a.debits_pending, 0) AS pending
    FROM tokens.assets s
    LEFT JOIN tokens.accounts a
           ON a.asset = s.code AND a.kind = 'wallet' AND a.user_id = (SELECT auth.current_user_id())
    ORDER BY s.code = :default_asset DESC, s.code
    """
).bindparams(default_asset=DEFAULT_ASSET)


async def balances(session: UserTx) -> list[BalanceOut]:
    """The signed-in user's wallet per asset: a `UserTx`, whose claim names the user."""
    rows = (await session.execute(_BALANCES)).all()
    return [
        BalanceOut(
            asset=r.code,
            decimals=r.decimals,
            available=str(int(r.posted) - int(r.pending)),
            pending=str(int(r.pending)),
            posted=str(int(r.posted)),
        )
        for r in rows
    ]


async def available(session: UserTx, asset: str) -> int:
    """What the signed-in user can spend now in `asset`."""
    for balance in await balances(session):
        if balance.asset == asset:
            return int(balance.available)
    return 0
