"""P2P transfers between users: recipient lookup, the rules (fee, minimum, daily limit), sending.

Sending is one statement: the linked batch (amount to the recipient, fee to the platform) and
the recipient's notification in the outbox commit together or not at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID, uuid5

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.database import ServiceTx
from db.models import User
from services.ledger.amounts import format_amount
from services.ledger.errors import first_failure, ledger_error
from services.ledger.limits import check_amount, check_storable
from services.ledger.schemas import Asset, Transfer
from services.ledger.service import (
    Executor,
    batch_json,
    run_native,
    system_account,
    user_account,
)
from services.transfers.config import P2PRules
from services.transfers.errors import (
    AmountBelowMinimum,
    AssetNotTransferable,
    InvalidMemo,
    InvalidRecipient,
    MemoTooLong,
    RecipientBanned,
    RecipientNotFound,
    SelfTransfer,
)
from services.users.access import is_banned
from services.validation import clean_text, echo, parse_telegram_id

P2P_CODE = "p2p"
FEE_CODE = "p2p_fee"
MAX_MEMO = 200
# Every P2P transfer credits a fee: spread over shards, the fees account is not one row that
# all transfers queue for. The platform's fee income is the sum over the shards.
FEE_SHARDS = 256
RECEIVED_TEMPLATE = "send.received"

# Telegram usernames start with a letter, so an all-digit reference is never one.
_USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{2,31})")
_UUID = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")

# The recipient's notice is enqueued by the same statement, and only when the batch applied
# now: a replay answers `exists` and notifies no one, so no dedup key is needed.
_SEND_SQL = """
    WITH r AS MATERIALIZED (
        SELECT tokens.create_transfers(CAST({batch} AS jsonb), true) AS results
    )
    SELECT r.results
    FROM r, ops.enqueue(CASE WHEN r.results[1] = 'ok' THEN CAST({notices} AS jsonb) END) AS e
"""
_SEND = text(_SEND_SQL.format(batch=":batch", notices=":notices"))
# The same statement for the driver itself, used on `db.statement()` connections.
_SEND_NATIVE = _SEND_SQL.format(batch="$1", notices="$2")


@dataclass(frozen=True)
class Receipt:
    transfer_id: UUID
    asset: Asset
    amount: int
    fee: int
    recipient: User
    replayed: bool


def display_name(user: User) -> str:
    return f"@{user.username}" if user.username else user.first_name or str(user.telegram_id)


async def resolve_recipient(session: ServiceTx, reference: str) -> User:
    """`@username`, a Telegram id (ASCII digits) or a user id.

    Raises ValidationError(invalid_recipient) for anything else (`²`, a number beyond any
    Telegram id, control characters), NotFound(recipient_not_found) for no such user.
    """
    column, value = recipient_key(reference.strip())
    key = func.lower(_USERS.c.username) if column == "username" else _USERS.c[column]
    user = await session.scalar(
        select(User).where(key == value, User.deleted_at.is_(None)).limit(1)
    )
    if user is None:
        raise RecipientNotFound("no such user", recipient=reference)
    return user


async def find_recipient(conn: AsyncConnection, reference: str) -> User:
    """`resolve_recipient` as one autocommit read on a `db.statement()` connection, straight to
    the driver (a send's hot path, which must hold no transaction while it waits for its
    batch). Raises the same."""
    column, value = recipient_key(reference.strip())
    driver: Any = (await conn.get_raw_connection()).driver_connection
    row = await driver.fetchrow(_FIND[column], value)
    if row is None:
        raise RecipientNotFound("no such user", recipient=reference)
    return User(**dict(row.items()))


_USERS = cast(Table, User.__table__)
_COLUMNS = ", ".join(column.name for column in _USERS.columns)
_FIND = {
    column: f"SELECT {_COLUMNS} FROM auth.users WHERE {key} = $1 AND deleted_at IS NULL LIMIT 1"
    for column, key in (
        ("telegram_id", "telegram_id"),
        ("id", "id"),
        ("username", "lower(username)"),
    )
}


def recipient_key(ref: str) -> tuple[str, object]:
    """The column a reference names and the value to find there. Raises InvalidRecipient."""
    if (telegram_id := parse_telegram_id(ref)) is not None:
        return "telegram_id", telegram_id
    if _UUID.fullmatch(ref):
        return "id", UUID(ref)
    if (match := _USERNAME.fullmatch(ref)) is not None:
        return "username", match[1].lower()
    raise InvalidRecipient("not a @username, Telegram id or user id", recipient=echo(ref))


def check_transfer(
    rules: P2PRules, *, sender: User, recipient: User, asset: Asset, amount: int, memo: str | None
) -> int:
    """The rules that need no database; returns the fee.

    Raises ValidationError (asset_not_transferable, self_transfer, invalid_amount,
    amount_below_minimum, amount_too_large, memo_too_long, invalid_memo) or
    Forbidden (recipient_banned).
    """
    if not asset.transferable:
        raise AssetNotTransferable("this asset cannot be sent", asset=asset.code)
    if recipient.id == sender.id:
        raise SelfTransfer("you cannot send to yourself")
    if is_banned(recipient):
        raise RecipientBanned("the recipient cannot receive transfers")
    minimum = rules.minimum_units(asset)
    if amount < minimum:
        raise AmountBelowMinimum(
            "amount is below the minimum",
            minimum=format_amount(minimum, asset.decimals),
            asset=asset.code,
        )
    check_amount(asset, amount)
    if memo is not None and len(memo) > MAX_MEMO:
        raise MemoTooLong("memo is too long", max=MAX_MEMO)
    if memo is not None:
        # NUL can't be stored (text, jsonb); other controls garble the recipient's notice.
        clean_text(memo, max_length=MAX_MEMO, error=InvalidMemo)
    return rules.fee(amount)


def fee_transfer_id(main: UUID) -> UUID:
    return uuid5(main, "fee")


@dataclass(frozen=True)
class PlannedSend:
    """A checked P2P transfer, ready for the ledger: its legs and the recipient's notice."""

    transfer_id: UUID
    asset: Asset
    amount: int
    fee: int
    daily_limit: int | None
    recipient: User
    legs: list[Transfer]
    notice: dict[str, Any]


def plan_send(
    rules: P2PRules,
    *,
    sender: User,
    recipient: User,
    asset: Asset,
    amount: int,
    transfer_id: UUID,
    memo: str | None = None,
) -> PlannedSend:
    """Raises what `check_transfer` raises.

    Nothing it returns can make the ledger statement fail: `SendBatcher` relies on that, since
    a statement carries other users' sends too.
    """
    fee = check_transfer(
        rules, sender=sender, recipient=recipient, asset=asset, amount=amount, memo=memo
    )
    daily_limit = rules.daily_limit_units(asset)
    metadata: dict[str, Any] = {"memo": memo} if memo else {}
    legs = [
        Transfer(
            id=transfer_id,
            debit=user_account(sender.id),
            credit=user_account(recipient.id),
            asset=asset.code,
            amount=amount,
            code=P2P_CODE,
            metadata=metadata,
            daily_limit=daily_limit,
        )
    ]
    if fee > 0:
        legs.append(
            Transfer(
                id=fee_transfer_id(transfer_id),
                debit=user_account(sender.id),
                credit=system_account("fees", shard=sender.telegram_id % FEE_SHARDS),
                asset=asset.code,
                amount=fee,
                code=FEE_CODE,
                metadata={"transfer_id": str(transfer_id)},
            )
        )
    params = {
        "amount": format_amount(amount, asset.decimals),
        "asset": asset.code,
        "sender": display_name(sender),
        "memo": memo or "",
    }
    # The sender's name comes from Telegram through the database, which stores no NUL; checked
    # anyway, since a bad string here would fail the neighbours' sends too.
    check_storable(params, field="sender")
    notice = {
        "chat_id": recipient.telegram_id,
        "user_id": str(recipient.id),
        "template": RECEIVED_TEMPLATE if not memo else RECEIVED_TEMPLATE + "_memo",
        "params": params,
    }
    return PlannedSend(transfer_id, asset, amount, fee, daily_limit, recipient, legs, notice)


def receipt_of(planned: PlannedSend, results: list[str]) -> Receipt:
    """The outcome of the planned legs; raises the ledger's error for a failure."""
    failure = first_failure(results)
    if failure is not None:
        details: dict[str, Any] = {}
        if failure == "daily_limit_exceeded" and planned.daily_limit is not None:
            decimals = planned.asset.decimals
            details = {
                "limit": format_amount(planned.daily_limit, decimals),
                "asset": planned.asset.code,
            }
        raise ledger_error(failure, **details)
    return Receipt(
        transfer_id=planned.transfer_id,
        asset=planned.asset,
        amount=planned.amount,
        fee=planned.fee,
        recipient=planned.recipient,
        replayed=all(result == "exists" for result in results),
    )


async def send(
    session: Executor,
    rules: P2PRules,
    *,
    sender: User,
    recipient: User,
    asset: Asset,
    amount: int,
    transfer_id: UUID,
    memo: str | None = None,
) -> Receipt:
    """Move `amount` from sender to recipient (the sender also pays the fee), notify the recipient.

    `transfer_id` derives from the cause (a bot confirmation, an API Idempotency-Key): a
    replay returns the first outcome. Raises what `check_transfer` raises, InsufficientFunds,
    Conflict (daily_limit_exceeded, exists_with_different_fields) and NotFound.
    """
    planned = plan_send(
        rules,
        sender=sender,
        recipient=recipient,
        asset=asset,
        amount=amount,
        transfer_id=transfer_id,
        memo=memo,
    )
    return await execute(session, planned)


async def execute(session: Executor, planned: PlannedSend) -> Receipt:
    """One planned send in one statement; raises its outcome's error (see `send`)."""
    batch, notices = batch_json(planned.legs), json.dumps([planned.notice])
    results: list[str]
    if isinstance(session, AsyncConnection):
        results = await run_native(session, _SEND_NATIVE, batch, notices)
    else:
        results = await session.scalar(_SEND, {"batch": batch, "notices": notices})
    return receipt_of(planned, results)
