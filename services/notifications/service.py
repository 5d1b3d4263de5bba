"""Enqueue a notification in the same transaction as the change that causes it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OutboxMessage


async def enqueue(
    session: AsyncSession,
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
    statement = insert(OutboxMessage).values(
        chat_id=chat_id,
        template=template,
        params=params or {},
        user_id=user_id,
        reply_markup=reply_markup,
        dedup_key=dedup_key,
    )
    if dedup_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[OutboxMessage.dedup_key])
    await session.execute(statement)
