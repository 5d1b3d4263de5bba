from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from db.models import User


class TelegramProfile(BaseModel):
    """What Telegram tells us about a person, from a bot update or validated initData."""

    model_config = ConfigDict(frozen=True)

    telegram_id: int = Field(gt=0)
    username: str | None = None
    first_name: str = ""
    last_name: str | None = None
    language_code: str | None = None
    is_premium: bool = False
    photo_url: str | None = None


class UserOut(BaseModel):
    """A user's own profile as the Mini App sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    telegram_id: int
    username: str | None
    first_name: str
    last_name: str | None
    language: str = Field(description="The language the platform speaks to this user")
    is_premium: bool
    photo_url: str | None
    referral_code: str
    role: str
    created_at: datetime

    @classmethod
    def of(cls, user: User, language: str) -> UserOut:
        return cls.model_validate(
            {name: getattr(user, name) for name in cls.model_fields if name != "language"}
            | {"language": language}
        )
