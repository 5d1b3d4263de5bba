from __future__ import annotations

from datetime import datetime
from typing import Protocol
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


class TelegramPerson(Protocol):
    """What aiogram's User (bot updates) and WebAppUser (Mini App initData) have in common."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str | None: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def language_code(self) -> str | None: ...
    @property
    def is_premium(self) -> bool | None: ...


def profile_of(person: TelegramPerson) -> TelegramProfile:
    return TelegramProfile(
        telegram_id=person.id,
        username=person.username,
        first_name=person.first_name,
        last_name=person.last_name,
        language_code=person.language_code,
        is_premium=bool(person.is_premium),
        # Only the Mini App sees a photo URL; the bot's User has none.
        photo_url=getattr(person, "photo_url", None),
    )


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
