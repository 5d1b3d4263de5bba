"""Enqueue a notification in the same transaction as the change that causes it."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID, uuid4

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert

from db.database import ServiceTx
from db.models import OutboxMessage


async def enqueue(
    session: ServiceTx,
    *,
    chat_id: int,
    template: str,
    params: dict[str, Any] | None = None,
    user_id: UUID | None = None,
    reply_markup: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> None:
    """`template` is an i18n key rendered at send time in the recipient's language.

    `dedup_key` makes the enqueue idempotent: a replayed cause notifies once.
    """
    # The id is chosen here, so no RETURNING is needed. Only the service role may write the
    # outbox (the user role has no rights in `ops`), hence `ServiceTx`.
    statement = insert(cast(Table, OutboxMessage.__table__)).values(
        id=uuid4(),
        chat_id=chat_id,
        template=template,
        params=params or {},
        user_id=user_id,
        reply_markup=reply_markup,
        dedup_key=dedup_key,
    )
    if dedup_key is not None:
        # No conflict target needed: the only other unique column is the fresh random id.
        statement = statement.on_conflict_do_nothing()
    await session.execute(statement)
