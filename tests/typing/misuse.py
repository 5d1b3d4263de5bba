"""Checked by `test_session_types.py`, not by the project's mypy run: each line marked
`# expect: <code> <text>` must be a mypy error with that code whose message contains the text,
and no other line may be one."""

from __future__ import annotations

from uuid import UUID

from db.database import AnyTx, Database, ServiceTx, UserTx
from services.ledger.balances import balances
from services.ledger.history import history
from services.ledger.service import AssetRegistry
from services.transfers.service import resolve_recipient
from services.users.service import mark_bot_blocked, set_language


def needs_service(tx: ServiceTx) -> None: ...


def needs_user(tx: UserTx) -> None: ...


def either(tx: AnyTx) -> None: ...


def neither_is_the_other(user: UserTx, service: ServiceTx) -> None:
    needs_service(user)  # expect: arg-type "UserTx"; expected "ServiceTx"
    needs_user(service)  # expect: arg-type "ServiceTx"; expected "UserTx"
    either(user)
    either(service)


async def a_handler_reading_user_data_with_system_rights(db: Database, user_id: UUID) -> None:
    async with db.service() as tx:
        await balances(tx)  # expect: arg-type "ServiceTx"; expected "UserTx"
        await set_language(tx, user_id, "en")  # expect: arg-type "ServiceTx"; expected "UserTx"
        await history(tx, user_id)
        await AssetRegistry().all(tx)


async def a_handler_doing_system_work_as_a_user(db: Database, user_id: UUID) -> None:
    async with db.user(user_id) as tx:
        await resolve_recipient(tx, "@bob")  # expect: arg-type "UserTx"; expected "ServiceTx"
        await history(tx, user_id)  # expect: arg-type "UserTx"; expected "ServiceTx"
        await mark_bot_blocked(tx, user_id)  # expect: arg-type "UserTx"; expected "ServiceTx"
        await balances(tx)
        await AssetRegistry().all(tx)
