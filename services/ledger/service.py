"""The ledger's front: every money movement is one call of tokens.create_transfers.

Callers derive transfer ids from causes (`transfer_id("welcome", user.id)`), so a replayed
cause returns the first outcome instead of moving tokens twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal
from uuid import UUID, uuid5

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import AnyTx, ServiceTx
from db.models import User
from services.ledger.amounts import format_amount
from services.ledger.errors import AdminOnly, AssetNotFound, first_failure, ledger_error
from services.ledger.limits import check_amount, check_storable
from services.ledger.schemas import Asset, Outcome, ResolveHold, Transfer
from services.notifications.service import enqueue
from services.users.access import is_admin

# A unit of work: a session (several statements, one transaction) or a `db.statement()`
# connection (one statement that commits by itself). A ledger call is one statement either way.
Executor = ServiceTx | AsyncConnection

# Fixed forever: changing it would change every derived transfer id.
TRANSFER_NAMESPACE = UUID("6f1c3e52-9d0b-4b7e-a6a4-2f5e8c1d7b90")

_CREATE = text("SELECT tokens.create_transfers(CAST(:batch AS jsonb), :linked)")
_CREATE_NATIVE = "SELECT tokens.create_transfers($1::jsonb, $2)"
_AVAILABLE = text(
    "SELECT credits_posted - debits_posted - debits_pending FROM tokens.accounts "
    "WHERE address = :address AND asset = :asset"
)
_ASSETS = text(
    "SELECT code, name, decimals, transferable, max_supply, max_amount "
    "FROM tokens.assets ORDER BY code"
)


def transfer_id(*cause: object) -> UUID:
    """A transfer id derived from its cause, e.g. ("p2p", request_id) or ("welcome", user_id)."""
    return uuid5(TRANSFER_NAMESPACE, ":".join(str(part) for part in cause))


def user_account(user_id: UUID) -> str:
    return f"user:{user_id}"


def system_account(kind: str, *, shard: int | None = None) -> str:
    """Per asset: issuance, fees, referral_rewards, escrow, ai_spend, stars_sales, chain_clearing.

    A `shard` names one of several accounts of the kind, for kinds every transfer touches.
    """
    return f"system:{kind}" if shard is None else f"system:{kind}#{shard}"


def batch_json(transfers: Sequence[Transfer | ResolveHold]) -> str:
    return json.dumps([t.to_json() for t in transfers], separators=(",", ":"))


async def create_transfers(
    session: Executor, transfers: Sequence[Transfer | ResolveHold], *, linked: bool = True
) -> list[str]:
    """Apply a batch in one round trip; one result code per transfer, nothing raised.

    `linked`: all succeed or all fail. Result codes: ok, exists (a replay), or a failure.
    """
    if not transfers:
        return []
    batch = batch_json(transfers)
    if isinstance(session, AsyncConnection):
        return await run_native(session, _CREATE_NATIVE, batch, linked)  # type: ignore[no-any-return]
    results: list[str] = await session.scalar(_CREATE, {"batch": batch, "linked": linked})
    return results


async def run_native(conn: AsyncConnection, sql: str, *args: Any) -> Any:
    """One statement on a `db.statement()` connection, straight to the driver ($n parameters).

    For the hottest paths: it skips SQLAlchemy's per-call compile and result processing,
    about a third of a transfer's client time.
    """
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    return await driver.fetchval(sql, *args)


async def apply(session: Executor, transfers: Sequence[Transfer | ResolveHold]) -> Outcome:
    """A linked batch that must succeed.

    Raises InsufficientFunds, NotFound (account_not_found, pending_transfer_not_found),
    Conflict (exists_with_different_fields, pending_transfer_already_*, daily_limit_exceeded)
    or ValidationError, with the function's result code as the error code.
    """
    results = await create_transfers(session, transfers, linked=True)
    failure = first_failure(results)
    if failure is not None:
        raise ledger_error(failure)
    return Outcome(tuple(results))


async def list_assets(session: AnyTx | AsyncConnection) -> list[Asset]:
    rows = (await session.execute(_ASSETS)).all()
    return [
        Asset(
            code=r.code,
            name=r.name,
            decimals=r.decimals,
            transferable=r.transferable,
            max_supply=int(r.max_supply),
            max_amount=int(r.max_amount),
        )
        for r in rows
    ]


class AssetRegistry:
    """The asset table, read once: assets change only with a migration."""

    def __init__(self) -> None:
        self._assets: dict[str, Asset] | None = None

    async def all(self, session: AnyTx | AsyncConnection) -> dict[str, Asset]:
        if self._assets is None:
            self._assets = {asset.code: asset for asset in await list_assets(session)}
        return self._assets

    def cached(self, code: str) -> Asset | None:
        """`get` without a read once the table is loaded; None before that.
        Raises NotFound(asset_not_found)."""
        if self._assets is None:
            return None
        asset = self._assets.get(code.upper())
        if asset is None:
            raise AssetNotFound("unknown asset", asset=code)
        return asset

    async def get(self, session: AnyTx | AsyncConnection, code: str) -> Asset:
        """Raises NotFound(asset_not_found) for an unknown code (matched case-insensitively)."""
        asset = (await self.all(session)).get(code.upper())
        if asset is None:
            raise AssetNotFound("unknown asset", asset=code)
        return asset


def _require_admin(admin: User) -> None:
    if not is_admin(admin):
        raise AdminOnly("only admins may grant or revoke tokens")


async def grant(
    session: ServiceTx,
    *,
    admin: User,
    cause: str,
    user: User,
    asset: Asset,
    amount: int,
    reason: str,
) -> Outcome:
    """Mint `amount` to the user from issuance and tell them. `cause` makes a re-delivered
    command a replay (no second grant, no second message).

    Raises Forbidden(admin_only), ValidationError(invalid_amount, amount_too_large: above the
    asset's per-operation maximum; invalid_text: a NUL in the reason), Conflict
    (supply_exceeded: issuance would have more than the asset's maximum supply outstanding;
    account_total_overflow).
    """
    check_amount(asset, amount)
    return await _issuance(session, "grant", admin, cause, user, asset, amount, reason)


async def revoke(
    session: ServiceTx,
    *,
    admin: User,
    cause: str,
    user: User,
    asset: Asset,
    amount: int,
    reason: str,
) -> Outcome:
    """Burn `amount` from the user back to issuance and tell them.

    Not capped by the asset's per-operation maximum, so any grant can be undone as long as the
    user still has it available: funds on hold or spent cannot be taken back
    (InsufficientFunds, with `available`: the most that can be revoked now).

    Raises Forbidden(admin_only), InsufficientFunds, ValidationError(invalid_text).
    """
    return await _issuance(session, "revoke", admin, cause, user, asset, amount, reason)


async def _issuance(
    session: ServiceTx,
    code: Literal["grant", "revoke"],
    admin: User,
    cause: str,
    user: User,
    asset: Asset,
    amount: int,
    reason: str,
) -> Outcome:
    _require_admin(admin)
    check_storable(reason, field="reason")
    issuance, account = system_account("issuance"), user_account(user.id)
    debit, credit = (issuance, account) if code == "grant" else (account, issuance)
    results = await create_transfers(
        session,
        [
            Transfer(
                id=transfer_id(code, cause),
                debit=debit,
                credit=credit,
                asset=asset.code,
                amount=amount,
                code=code,
                metadata={"reason": reason, "by": str(admin.id)},
            )
        ],
    )
    failure = first_failure(results)
    if failure is not None:
        details = _failure_details(failure, asset)
        if failure == "insufficient_funds":
            details = {"available": await _available(session, account, asset), "asset": asset.code}
        raise ledger_error(failure, **details)
    outcome = Outcome(tuple(results))
    if not outcome.replayed:
        # Tokens appearing or vanishing without a word would look like a bug or a theft.
        await enqueue(
            session,
            chat_id=user.telegram_id,
            user_id=user.id,
            template=f"ledger.{code}_notice",
            params={
                "amount": format_amount(amount, asset.decimals),
                "asset": asset.code,
                "reason": reason,
            },
            dedup_key=f"{code}:{cause}",
        )
    return outcome


def _failure_details(failure: str, asset: Asset) -> dict[str, str]:
    """What an admin needs to know to correct a refused grant."""
    limit = {"amount_too_large": asset.max_amount, "supply_exceeded": asset.max_supply}
    value = limit.get(failure)
    if value is None:
        return {}
    return {"max": format_amount(value, asset.decimals), "asset": asset.code}


async def _available(session: ServiceTx, address: str, asset: Asset) -> str:
    units = await session.scalar(_AVAILABLE, {"address": address, "asset": asset.code})
    return format_amount(int(units or 0), asset.decimals)
