"""Fraud rules: each finding is a flag with a score and its evidence. A user with an open flag
keeps every reward they would receive, and every reward their purchases caused, on hold past
its date until an admin approves (the holds post when due) or rejects (they are voided)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx
from db.models import User
from services.ledger.errors import AdminOnly
from services.ledger.service import apply
from services.referrals.config import FraudRules
from services.referrals.errors import FlagDecided, FlagNotFound
from services.referrals.holds import HeldReward, held_rewards, lock_events, settle
from services.users.access import is_admin
from services.users.bans import ban as ban_user

VELOCITY = "velocity"
FARM = "farm"
REFUND_LOOP = "refund_loop"
SHARED_WALLET = "shared_wallet"
DAILY_CAP = "daily_cap"

SCORES = {VELOCITY: 60, FARM: 70, REFUND_LOOP: 50, SHARED_WALLET: 90, DAILY_CAP: 40}

# A rule that fires again while its flag is open updates the evidence, not a second flag.
_RAISE = text(
    """
    INSERT INTO referrals.flags (user_id, rule, score, evidence)
    VALUES (:user, :rule, :score, CAST(:evidence AS jsonb))
    ON CONFLICT (user_id, rule) WHERE status = 'open'
    DO UPDATE SET evidence = excluded.evidence, score = excluded.score
    RETURNING id
    """
)


@dataclass(frozen=True)
class Flag:
    id: int
    user_id: UUID
    telegram_id: int
    name: str
    rule: str
    score: int
    evidence: dict[str, Any]
    status: str
    created_at: datetime


async def raise_flag(
    session: ServiceTx, user_id: UUID, rule: str, evidence: Mapping[str, Any]
) -> int:
    flag_id: int = await session.scalar(
        _RAISE,
        {
            "user": user_id,
            "rule": rule,
            "score": SCORES[rule],
            "evidence": json.dumps(evidence, default=str),
        },
    )
    return flag_id


_VELOCITY = text(
    "SELECT count(*) FROM referrals.links WHERE ancestor_id = :referrer AND depth = 1 "
    "AND created_at > now() - interval '1 hour'"
)


async def check_velocity(session: ServiceTx, rules: FraudRules, referrer: UUID) -> None:
    """Referral velocity: more than `velocity_per_hour` new level-1 referees in an hour."""
    count = int(await session.scalar(_VELOCITY, {"referrer": referrer}) or 0)
    if count > rules.velocity_per_hour:
        await raise_flag(
            session,
            referrer,
            VELOCITY,
            {"referees_last_hour": count, "threshold": rules.velocity_per_hour},
        )


_REFUNDS = text(
    "SELECT count(*) FROM tokens.purchases WHERE user_id = :user AND status = 'refunded' "
    "AND refunded_at > now() - interval '30 days'"
)


async def check_refund_loop(session: ServiceTx, rules: FraudRules, buyer: UUID) -> None:
    """Purchase-and-refund loops: `refund_loops` refunds within 30 days."""
    count = int(await session.scalar(_REFUNDS, {"user": buyer}) or 0)
    if count >= rules.refund_loops:
        await raise_flag(
            session, buyer, REFUND_LOOP, {"refunds_30_days": count, "threshold": rules.refund_loops}
        )


# An address the user shares with one of `others` (`auth.wallet_addresses`, written by the
# chain integrations). tokens.credit_purchases applies the same rule to a purchase's upline.
_SHARED = text(
    """
    SELECT theirs.user_id, array_agg(DISTINCT mine.address ORDER BY mine.address) AS addresses
      FROM auth.wallet_addresses mine
      JOIN auth.wallet_addresses theirs
        ON theirs.address = mine.address AND theirs.user_id = ANY(CAST(:others AS uuid[]))
     WHERE mine.user_id = :user
     GROUP BY theirs.user_id
    """
)


async def check_shared_wallets(session: ServiceTx, buyer: UUID, upline: Sequence[UUID]) -> bool:
    """A TON/EVM wallet or withdrawal address shared between the buyer and their upline."""
    rows = (await session.execute(_SHARED, {"user": buyer, "others": list(upline)})).all()
    if not rows:
        return False
    await raise_flag(
        session,
        buyer,
        SHARED_WALLET,
        {"shared_with": {str(r.user_id): list(r.addresses) for r in rows}},
    )
    return True


# The scan passes over a referrer with an open flag, so a flag's evidence is the total of the
# UTC day it was raised on: an approval covers that day, and only a later day over the cap is
# new evidence (even if the approval came on that later day). A rejection needs no exception:
# it voided the day's held rewards, which the sum leaves out, so what it counts came after.
_DAILY_CAPS = text(
    """
    SELECT r.referrer_id, sum(r.amount) AS total FROM referrals.rewards r
     WHERE r.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
       AND r.status <> 'voided'
       AND NOT EXISTS (SELECT FROM referrals.flags f WHERE f.user_id = r.referrer_id
                         AND f.rule = 'daily_cap'
                         AND (f.status = 'open' OR f.status = 'approved' AND f.created_at
                              >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'))
     GROUP BY r.referrer_id HAVING sum(r.amount) > :cap
    """
)


async def scan_daily_caps(session: ServiceTx, rules: FraudRules) -> int:
    """More than `daily_cap` VIBE units of rewards for one referrer in this UTC day. A scan
    (once a minute) rather than a check in every purchase: it reads today's rewards once, not
    once per purchase and referrer, and a reward is held for days anyway."""
    rows = (await session.execute(_DAILY_CAPS, {"cap": rules.daily_cap})).all()
    for row in rows:
        await raise_flag(
            session,
            row.referrer_id,
            DAILY_CAP,
            {"rewards_today": str(int(row.total)), "cap": str(rules.daily_cap)},
        )
    return len(rows)


# A decided flag covers the idle referees its evidence counted. Only more of them is new
# evidence: a farm's idle referees only accumulate (links stay, and a referrer one of whose
# referees ever bought is no farm again), so a higher count means some went idle since. A
# rejection stands the same way: voiding the rewards left those referees idle, and a ban is
# the admin's way to stop the user.
_FARMS = text(
    """
    SELECT l.ancestor_id, count(*) AS idle
      FROM referrals.links l
     WHERE l.depth = 1 AND l.created_at < now() - make_interval(days => :days)
       AND NOT EXISTS (SELECT FROM tokens.purchases p WHERE p.user_id = l.descendant_id)
       AND NOT EXISTS (SELECT FROM referrals.flags f
                        WHERE f.user_id = l.ancestor_id AND f.rule = 'farm' AND f.status = 'open')
     GROUP BY l.ancestor_id HAVING count(*) >= :min
       AND count(*) = (SELECT count(*) FROM referrals.links a
                        WHERE a.ancestor_id = l.ancestor_id AND a.depth = 1
                          AND a.created_at < now() - make_interval(days => :days))
       AND count(*) > (SELECT coalesce(max(CAST(f.evidence ->> 'idle_referees' AS integer)), 0)
                         FROM referrals.flags f
                        WHERE f.user_id = l.ancestor_id AND f.rule = 'farm'
                          AND f.status <> 'open')
    """
)


async def scan_farms(session: ServiceTx, rules: FraudRules) -> int:
    """Farms: `farm_referees` or more level-1 referees past `farm_days`, none of whom ever
    bought anything. Returns how many referrers were flagged."""
    rows = (
        await session.execute(_FARMS, {"days": rules.farm_days, "min": rules.farm_referees})
    ).all()
    for row in rows:
        await raise_flag(
            session,
            row.ancestor_id,
            FARM,
            {"idle_referees": int(row.idle), "days": rules.farm_days},
        )
    return len(rows)


_FLAGS = text(
    """
    SELECT f.id, f.user_id, u.telegram_id, coalesce(u.username, u.first_name) AS name, f.rule,
           f.score, f.evidence, f.status, f.created_at
      FROM referrals.flags f JOIN auth.users u ON u.id = f.user_id
     WHERE (CAST(:id AS bigint) IS NULL OR f.id = :id)
       AND (CAST(:id AS bigint) IS NOT NULL OR f.status = 'open')
     ORDER BY f.score DESC, f.id LIMIT :limit
    """
)


async def open_flags(session: ServiceTx, limit: int = 20) -> list[Flag]:
    return [_flag(r) for r in (await session.execute(_FLAGS, {"id": None, "limit": limit})).all()]


async def get_flag(session: ServiceTx, flag_id: int) -> Flag:
    """Raises FlagNotFound."""
    row = (await session.execute(_FLAGS, {"id": flag_id, "limit": 1})).first()
    if row is None:
        raise FlagNotFound("no such flag", id=flag_id)
    return _flag(row)


def _flag(row: Any) -> Flag:
    return Flag(
        id=int(row.id),
        user_id=row.user_id,
        telegram_id=int(row.telegram_id),
        name=row.name or "",
        rule=row.rule,
        score=int(row.score),
        evidence=dict(row.evidence),
        status=row.status,
        created_at=row.created_at,
    )


_FLAGGED = text("SELECT user_id FROM referrals.flags WHERE id = :id")
_DECIDE = text(
    "UPDATE referrals.flags SET status = :status, decided_by = :admin, decided_at = now() "
    "WHERE id = :id AND status = 'open' RETURNING user_id"
)
# The events of the held rewards a rejected user caused, and of those they would receive (found
# through the ledger: their account's reward holds without a resolution).
_HELD_EVENTS = text(
    """
    SELECT e.source FROM referrals.reward_events e
     WHERE e.referee_id = :user AND e.resolved_at IS NULL
    UNION
    SELECT h.metadata ->> 'source' FROM tokens.accounts a
      JOIN tokens.transfers h ON h.credit_account_id = a.id
     WHERE a.user_id = :user AND h.code = 'referral_reward' AND h.kind = 'pending'
       AND h.result = 'ok'
       AND NOT EXISTS (SELECT FROM tokens.transfers r WHERE r.pending_id = h.id
                         AND r.result = 'ok')
    """
)


@dataclass(frozen=True)
class Decision:
    flag_id: int
    user_id: UUID
    status: str
    voided: int


async def decide(
    session: ServiceTx, admin: User, flag_id: int, *, approve: bool, ban: bool = False
) -> Decision:
    """Approve (the user's held rewards post when due) or reject (they are voided now, in one
    ledger batch; `ban` also bans the user). Recorded with the admin and the time.

    Raises AdminOnly, FlagNotFound, FlagDecided.
    """
    if not is_admin(admin):
        raise AdminOnly("only admins decide flags")
    status = "approved" if approve else "rejected"
    flagged: UUID | None = await session.scalar(_FLAGGED, {"id": flag_id})
    if flagged is None:
        raise FlagNotFound("no such flag", id=flag_id)
    sources: list[str] = []
    if not approve:
        # The events before the flag, in the order a refund takes them (its event, then the
        # refund-loop flag it raises): the other order deadlocked with a refund of the user's.
        found = (await session.execute(_HELD_EVENTS, {"user": flagged})).scalars().all()
        sources = await lock_events(session, found)
    user_id: UUID | None = await session.scalar(
        _DECIDE, {"status": status, "admin": admin.id, "id": flag_id}
    )
    if user_id is None:
        raise FlagDecided("this flag was already decided", id=flag_id)
    voided = 0
    if not approve:
        held = await held_rewards(session, sources)

        def theirs(reward: HeldReward) -> bool | None:
            return False if user_id in (reward.referrer_id, reward.referee_id) else None

        settled = await settle(session, sources, held, theirs)
        if settled.resolutions:
            await apply(session, settled.resolutions)
        voided = settled.voided
        if ban:
            await ban_user(session, user_id)
    return Decision(flag_id, user_id, status, voided)
