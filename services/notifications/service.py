"""Enqueue a notification in the same transaction as the change that causes it."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx

# `ops.enqueue` is the one writer of outbox rows (statements that decide a notice in SQL call
# it too). Only the service role may call it, hence `ServiceTx`.
_ENQUEUE = text("SELECT ops.enqueue(CAST(:messages AS jsonb))")


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
    message = {
        "chat_id": chat_id,
        "user_id": str(user_id) if user_id is not None else None,
        "template": template,
        "params": params or {},
        "reply_markup": reply_markup,
        "dedup_key": dedup_key,
    }
    await session.execute(_ENQUEUE, {"messages": json.dumps([message])})
