from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from db.models import User
from services.users.errors import InvalidProfile
from services.validation import SafeText, TelegramId, field_errors, start_payload


class Door(StrEnum):
    BOT = "bot"
    MINIAPP = "miniapp"


@dataclass(frozen=True)
class Origin:
    """Where a contact came from: the door, and the start payload it carried (a `/start` deep
    link's, or the Mini App's `start_param` from its signed initData), when valid. User
    creation hands it to its hooks, so a capability (referrals: `ref_<code>`) acts in the
    transaction that creates the user."""

    door: Door
    payload: str | None = None

    @classmethod
    def bot(cls, payload: str | None = None) -> Origin:
        return cls(Door.BOT, start_payload(payload))

    @classmethod
    def miniapp(cls, start_param: str | None = None) -> Origin:
        return cls(Door.MINIAPP, start_payload(start_param))


class TelegramProfile(BaseModel):
    """What Telegram tells us about a person, from a bot update or validated initData.

    Signed is not the same as sane: a correctly signed initData can still carry id 0 or a NUL
    in a name, so every field is checked here before it reaches the database. The limits are
    generous multiples of Telegram's own (names up to 64 characters, usernames up to 32).
    """

    model_config = ConfigDict(frozen=True)

    telegram_id: TelegramId
    username: SafeText | None = Field(default=None, max_length=64)
    first_name: SafeText = Field(default="", max_length=256)
    last_name: SafeText | None = Field(default=None, max_length=256)
    language_code: SafeText | None = Field(default=None, max_length=35)
    is_premium: bool = False
    photo_url: SafeText | None = Field(default=None, max_length=2048)


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
    """Raises ValidationError(invalid_profile) for an id out of range or a name with NUL etc."""
    try:
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
    except pydantic.ValidationError as exc:
        raise InvalidProfile(
            "the Telegram profile is not valid", fields=field_errors(exc)
        ) from None


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
