from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = {"schema": "ops"}  # noqa: RUF012

    id: Mapped[UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey("auth.users.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    template: Mapped[str]
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    # Unique where present (a partial index, migration 0004).
    dedup_key: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    sent_at: Mapped[datetime | None]
