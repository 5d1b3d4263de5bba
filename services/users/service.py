"""Users: created or refreshed from every Telegram contact, looked up, banned, localized."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from db.database import AnyTx, Database, ServiceTx, UserTx
from db.models import User
from services.i18n.languages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from services.users.access import ADMIN_ROLE, USER_ROLE
from services.users.errors import UnsupportedLanguage, UserNotFound
from services.users.schemas import Door, Origin, TelegramProfile

# last_seen_at is a hint, not an audit trail: refreshing it at most this often keeps a busy
# user's every update from being a write.
LAST_SEEN_GRANULARITY = timedelta(minutes=5)
_PROFILE_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "language_code",
    "is_premium",
    "photo_url",
)


# Runs in the transaction that creates the user, so what it does (a welcome bonus, a referral
# from the origin's payload) commits or rolls back together with the user row.
OnCreated = Callable[[ServiceTx, User, Origin], Awaitable[None]]


@dataclass(frozen=True)
class Registration:
    user: User
    created: bool


def new_referral_code() -> str:
    """8 URL-safe characters from a CSPRNG: usable in deep links, unrelated to the user id."""
    return secrets.token_urlsafe(6)


def language_for(chosen: str | None, telegram_code: str | None) -> str:
    """The user's own choice, else their Telegram client's language, else English."""
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    code = (telegram_code or "").split("-")[0].lower()
    return code if code in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def effective_language(user: User) -> str:
    return language_for(user.language, user.language_code)


async def upsert_from_telegram(
    session: ServiceTx,
    profile: TelegramProfile,
    *,
    admin_ids: frozenset[int],
    origin: Origin,
    on_created: Sequence[OnCreated] = (),
) -> Registration:
    """Create the user on first contact, refresh changed profile fields; no write if unchanged.

    Runs in a service-scoped transaction: identity is resolved before there is a user id.
    A contact through the bot proves the person has not blocked it. `on_created` hooks run
    once, for a user this call created, in the same transaction, and learn its `origin`.
    """
    role = _role(profile, admin_ids)
    via_bot = origin.door is Door.BOT
    user = await session.scalar(select(User).where(User.telegram_id == profile.telegram_id))
    if user is None:
        created = await _insert(session, profile, role)
        if created is not None:
            for hook in on_created:
                await hook(session, created, origin)
            return Registration(created, True)
        user = await session.scalar(select(User).where(User.telegram_id == profile.telegram_id))
        assert user is not None  # a concurrent insert won the race and committed before us

    changes = _changes(user, profile, role, via_bot)
    if _needs_write(user, changes):
        values = {**changes, "last_seen_at": func.now()}
        if changes:
            values["updated_at"] = func.now()
        refreshed = await session.scalar(
            update(User).where(User.id == user.id).values(**values).returning(User),
            execution_options={"populate_existing": True},
        )
        assert refreshed is not None
        user = refreshed
    return Registration(user, False)


def _role(profile: TelegramProfile, admin_ids: frozenset[int]) -> str:
    return ADMIN_ROLE if profile.telegram_id in admin_ids else USER_ROLE


def _changes(user: User, profile: TelegramProfile, role: str, via_bot: bool) -> dict[str, object]:
    changes: dict[str, object] = {
        field: getattr(profile, field)
        for field in _PROFILE_FIELDS
        if getattr(user, field) != getattr(profile, field)
    }
    if user.role != role:
        changes["role"] = role
    if via_bot and user.bot_blocked_at is not None:
        # Writing to the bot again means they unblocked it.
        changes["bot_blocked_at"] = None
    return changes


def _needs_write(user: User, changes: dict[str, object]) -> bool:
    now = datetime.now(user.last_seen_at.tzinfo)
    return bool(changes) or now - user.last_seen_at > LAST_SEEN_GRANULARITY


def is_current(
    user: User, profile: TelegramProfile, *, admin_ids: frozenset[int], via_bot: bool = False
) -> bool:
    """True when this contact would change nothing in the stored `user` (no write is due)."""
    return not _needs_write(user, _changes(user, profile, _role(profile, admin_ids), via_bot))


def seen_lately(user: User) -> bool:
    """True while `user.last_seen_at` needs no refresh: what `is_current` checks besides the
    profile."""
    return not _needs_write(user, {})


async def resolve_telegram_user(
    db: Database,
    profile: TelegramProfile,
    *,
    admin_ids: frozenset[int],
    origin: Origin,
    on_created: Sequence[OnCreated] = (),
) -> Registration:
    """The user behind a bot update or a Mini App request, created or refreshed as needed.

    Nearly every contact is a known person whose profile has not changed: that costs one
    autocommit read. Only a new or changed person takes the write transaction.
    """
    if db.statement_engine is not None:
        async with db.statement() as conn:
            row = (
                await conn.execute(_BY_TELEGRAM_ID, {"telegram_id": profile.telegram_id})
            ).first()
        if row is not None:
            user = User(**row._mapping)
            via_bot = origin.door is Door.BOT
            if not _needs_write(user, _changes(user, profile, _role(profile, admin_ids), via_bot)):
                return Registration(user, False)
    async with db.service() as session:
        return await upsert_from_telegram(
            session, profile, admin_ids=admin_ids, origin=origin, on_created=on_created
        )


_USERS = cast(Table, User.__table__)
_BY_TELEGRAM_ID = select(_USERS).where(_USERS.c.telegram_id == bindparam("telegram_id"))


async def _insert(session: ServiceTx, profile: TelegramProfile, role: str) -> User | None:
    for _ in range(3):
        statement = (
            insert(User)
            .values(**profile.model_dump(), referral_code=new_referral_code(), role=role)
            .on_conflict_do_nothing(index_elements=[User.telegram_id])
            .returning(User)
        )
        try:
            async with session.begin_nested():
                return await session.scalar(statement)
        except IntegrityError as exc:
            if "referral_code" not in str(exc.orig):
                raise
    raise RuntimeError("could not draw a unique referral code in 3 tries")


async def get_user(session: AnyTx, user_id: UUID) -> User:
    """Raises UserNotFound."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise UserNotFound("user not found")
    return user


async def set_language(session: UserTx, user_id: UUID, language: str) -> User:
    """Raises UnsupportedLanguage for a language we do not speak, UserNotFound for an
    unknown user."""
    if language not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguage("unsupported language", language=language)
    user: User | None = await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(language=language, updated_at=func.now())
        .returning(User),
        execution_options={"populate_existing": True},
    )
    if user is None:
        raise UserNotFound("user not found")
    return user


async def mark_bot_blocked(session: ServiceTx, user_id: UUID) -> None:
    """The one place that records a user blocked the bot (Telegram answered 403); their next
    bot update clears it (`upsert_from_telegram`)."""
    await session.execute(
        update(User)
        .where(User.id == user_id, User.bot_blocked_at.is_(None))
        .values(bot_blocked_at=func.now())
    )


async def clear_bot_blocked(session: ServiceTx, user_id: UUID) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id, User.bot_blocked_at.is_not(None))
        .values(bot_blocked_at=None)
    )


async def set_banned(session: ServiceTx, user_id: UUID, banned: bool) -> None:
    """The flag alone. Banning someone is `services.users.bans.ban`, which also closes what
    they have open (market offers)."""
    await session.execute(
        update(User).where(User.id == user_id).values(banned_at=func.now() if banned else None)
    )
