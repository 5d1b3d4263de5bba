"""The referral tree: binding a new user to their referrer once, reading uplines and views.

The tree is a closure table (`referrals.links`: descendant, depth 1..8, ancestor) written once,
in the transaction that creates the user. A binding is immutable and happens only to a user
with no descendants yet, so a cycle cannot form; the upline of anyone is one primary-key
range read and a referrer's level N is one range of `links_ancestor_idx`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx, UserTx
from db.models import User
from services.ledger.history import decode_cursor, encode_cursor
from services.referrals.config import MAX_LEVELS, ReferralConfig
from services.referrals.errors import InvalidLevel
from services.referrals.fraud import check_velocity
from services.referrals.schemas import DownlinePage, LevelOut, RefereeOut, ReferralsOut
from services.users.schemas import Origin
from services.users.service import OnCreated

log = logging.getLogger(__name__)

PREFIX = "ref_"

_BY_CODE = text("SELECT id FROM auth.users WHERE referral_code = :code AND deleted_at IS NULL")
_BIND = text(
    "UPDATE auth.users SET referred_by = :referrer "
    "WHERE id = :user AND referred_by IS NULL AND id <> :referrer RETURNING id"
)
# The new user's upline: the referrer at depth 1, then the referrer's own upline one deeper.
_LINKS = text(
    """
    INSERT INTO referrals.links (descendant_id, depth, ancestor_id)
    SELECT CAST(:user AS uuid), CAST(1 AS smallint), CAST(:referrer AS uuid)
    UNION ALL
    SELECT CAST(:user AS uuid), CAST(l.depth + 1 AS smallint), l.ancestor_id
      FROM referrals.links l
     WHERE l.descendant_id = CAST(:referrer AS uuid) AND l.depth < :max_depth
    """
)
# One more referee at each level of the new upline, rows locked in level order.
_COUNT = text(
    """
    INSERT INTO referrals.totals (referrer_id, level, referees)
    SELECT l.ancestor_id, l.depth, 1 FROM referrals.links l
     WHERE l.descendant_id = :user ORDER BY l.depth
    ON CONFLICT (referrer_id, level)
    DO UPDATE SET referees = referrals.totals.referees + 1
    """
)
# The ancestors who may be paid: a banned or deleted one keeps their level and gets nothing.
_UPLINE = text(
    """
    SELECT l.depth, l.ancestor_id, u.telegram_id
      FROM referrals.links l JOIN auth.users u ON u.id = l.ancestor_id
     WHERE l.descendant_id = :user AND l.depth <= :levels
       AND u.banned_at IS NULL AND u.deleted_at IS NULL
     ORDER BY l.depth
    """
)
_LEVELS = text("SELECT level, referees, pending, available FROM referrals.my_levels")
_DOWNLINE = text(
    """
    SELECT id, username, first_name, joined_at FROM referrals.my_downline
     WHERE level = :level
       AND (CAST(:after_at AS timestamptz) IS NULL
            OR (joined_at, id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
     ORDER BY joined_at, id LIMIT :limit
    """
)


class Binding(StrEnum):
    BOUND = "bound"
    UNKNOWN = "unknown"
    SELF = "self"
    ALREADY = "already"


@dataclass(frozen=True)
class Ancestor:
    level: int
    user_id: UUID
    telegram_id: int


def referral_code_of(origin: Origin) -> str | None:
    if origin.payload is None or not origin.payload.startswith(PREFIX):
        return None
    return origin.payload[len(PREFIX) :] or None


def binding_hook(config: ReferralConfig) -> OnCreated:
    """The registration hook: bind the referrer named by the origin's `ref_<code>`."""

    async def bind(session: ServiceTx, user: User, origin: Origin) -> None:
        code = referral_code_of(origin)
        if code is not None:
            await bind_referrer(session, config, user, code)

    return bind


async def bind_referrer(
    session: ServiceTx, config: ReferralConfig, user: User, code: str
) -> Binding:
    """Bind `user` under the owner of `code`, once. Only the creating transaction calls it, so
    the user has no descendants and no cycle can form; a second call finds `referred_by` set."""
    referrer: UUID | None = await session.scalar(_BY_CODE, {"code": code})
    if referrer is None:
        return Binding.UNKNOWN
    if referrer == user.id:
        return Binding.SELF
    if await session.scalar(_BIND, {"referrer": referrer, "user": user.id}) is None:
        return Binding.ALREADY
    await session.execute(_LINKS, {"user": user.id, "referrer": referrer, "max_depth": MAX_LEVELS})
    await session.execute(_COUNT, {"user": user.id})
    user.referred_by = referrer
    await check_velocity(session, config.fraud, referrer)
    return Binding.BOUND


_REFERRER = text(
    "SELECT r.id, r.first_name, r.username, r.referral_code FROM auth.users u "
    "JOIN auth.users r ON r.id = u.referred_by WHERE u.id = :user"
)


@dataclass(frozen=True)
class DeepLinkOutcome:
    """What a `/start ref_<code>` tap did, for the friendly word the bot says."""

    binding: Binding
    referrer_name: str | None = None


async def deep_link_outcome(session: ServiceTx, user_id: UUID, code: str) -> DeepLinkOutcome:
    """Read back what the creating transaction decided (Telegram repeats `/start ref_...` on
    every tap; only the first contact binds)."""
    row = (await session.execute(_REFERRER, {"user": user_id})).first()
    if row is not None and row.referral_code == code:
        return DeepLinkOutcome(Binding.BOUND, row.first_name or row.username)
    owner: UUID | None = await session.scalar(_BY_CODE, {"code": code})
    if owner is None:
        return DeepLinkOutcome(Binding.UNKNOWN)
    if owner == user_id:
        return DeepLinkOutcome(Binding.SELF)
    return DeepLinkOutcome(Binding.ALREADY)


async def upline(session: ServiceTx, user_id: UUID, levels: int) -> list[Ancestor]:
    rows = (await session.execute(_UPLINE, {"user": user_id, "levels": levels})).all()
    return [Ancestor(int(r.depth), r.ancestor_id, int(r.telegram_id)) for r in rows]


def links_of(code: str, bot_username: str, app_name: str) -> tuple[str, str]:
    """The `/start` link and the Mini App (`startapp`) link carrying `ref_<code>`."""
    return (
        f"https://t.me/{bot_username}?start={PREFIX}{code}",
        f"https://t.me/{bot_username}/{app_name}?startapp={PREFIX}{code}",
    )


async def summary(session: UserTx, user: User, *, bot_username: str, app_name: str) -> ReferralsOut:
    """The signed-in user's referees and rewards per level: always the 8 levels."""
    rows = {int(r.level): r for r in (await session.execute(_LEVELS)).all()}
    levels = [
        LevelOut(
            level=level,
            referees=int(rows[level].referees) if level in rows else 0,
            pending=str(int(rows[level].pending)) if level in rows else "0",
            available=str(int(rows[level].available)) if level in rows else "0",
        )
        for level in range(1, MAX_LEVELS + 1)
    ]
    link, app_link = links_of(user.referral_code, bot_username, app_name)
    return ReferralsOut(
        code=user.referral_code,
        link=link,
        app_link=app_link,
        levels=levels,
        totals={
            "pending": str(sum(int(level.pending) for level in levels)),
            "available": str(sum(int(level.available) for level in levels)),
        },
    )


async def downline(session: UserTx, *, level: int, cursor: str | None, limit: int) -> DownlinePage:
    """Referees at `level` of the signed-in user, oldest first. Raises InvalidLevel,
    ValidationError(invalid_cursor)."""
    if not 1 <= level <= MAX_LEVELS:
        raise InvalidLevel("level must be 1..8", max=MAX_LEVELS)
    after_at, after_id = decode_cursor(cursor) if cursor else (None, None)
    rows = (
        await session.execute(
            _DOWNLINE,
            {"level": level, "after_at": after_at, "after_id": after_id, "limit": limit + 1},
        )
    ).all()
    items = [
        RefereeOut(id=r.id, username=r.username, first_name=r.first_name, joined_at=r.joined_at)
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(items[-1].joined_at, items[-1].id) if len(rows) > limit else None
    return DownlinePage(items=items, next_cursor=next_cursor)


async def direct_referrals(
    session: ServiceTx, user_ids: Sequence[UUID]
) -> Mapping[UUID, Sequence[UUID]]:
    """Each user's first level, from the closure table (realtime presence's `DirectReferrals`):
    one range of `links_ancestor_idx` per user."""
    rows = await session.execute(
        text(
            "SELECT ancestor_id, descendant_id FROM referrals.links"
            " WHERE ancestor_id = ANY(:ids) AND depth = 1"
        ),
        {"ids": list(user_ids)},
    )
    found: dict[UUID, list[UUID]] = {}
    for ancestor, descendant in rows.all():
        found.setdefault(ancestor, []).append(descendant)
    return found
