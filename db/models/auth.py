from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, ForeignKey, text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"schema": "auth"}  # noqa: RUF012

    id: Mapped[UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None]
    first_name: Mapped[str] = mapped_column(server_default="")
    last_name: Mapped[str | None]
    language_code: Mapped[str | None]
    language: Mapped[str | None]
    is_premium: Mapped[bool] = mapped_column(server_default=text("false"))
    photo_url: Mapped[str | None]
    referral_code: Mapped[str] = mapped_column(unique=True)
    referred_by: Mapped[UUID | None] = mapped_column(ForeignKey("auth.users.id"))
    role: Mapped[str] = mapped_column(server_default="user")
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    last_seen_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    banned_at: Mapped[datetime | None]
    bot_blocked_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
