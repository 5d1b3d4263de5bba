"""Resolving referral rewards: the one way a held reward is posted or voided.

A reward is its ledger hold; it is held while the hold has no resolution. Its event row
(`referrals.reward_events`, one per qualifying event) is locked by whoever resolves any of the
event's rewards (the posting job, a refund, a rejection), so two of them never race for one
hold, and it is marked resolved with the last of them, leaving the due and referee indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx
from services.ledger.schemas import ResolveHold
from services.ledger.service import transfer_id
from services.referrals.totals import resolve_totals


@dataclass(frozen=True)
class HeldReward:
    id: UUID
    source: str
    level: int
    referrer_id: UUID
    referee_id: UUID
    amount: int
    # The referrer is banned or deleted: never paid.
    forfeited: bool
    # The referrer or the referee has an open flag: held past its date until an admin decides.
    flagged: bool


_HELD = text(
    """
    SELECT x.id, e.source, x.level, x.referrer_id, e.referee_id, x.amount,
           EXISTS (SELECT FROM auth.users u WHERE u.id = x.referrer_id
                     AND (u.banned_at IS NOT NULL OR u.deleted_at IS NOT NULL)) AS forfeited,
           EXISTS (SELECT FROM referrals.flags f WHERE f.status = 'open'
                     AND f.user_id IN (x.referrer_id, e.referee_id)) AS flagged
      FROM referrals.reward_events e
     CROSS JOIN LATERAL unnest(e.ids, e.levels, e.referrers, e.amounts)
           AS x(id, level, referrer_id, amount)
     WHERE e.source = ANY(CAST(:sources AS text[]))
       AND NOT EXISTS (SELECT FROM tokens.transfers r
                        WHERE r.pending_id = x.id AND r.result = 'ok')
     ORDER BY e.source, x.level
    """
)
_LOCK = text(
    "SELECT source FROM referrals.reward_events "
    "WHERE source = ANY(CAST(:sources AS text[])) AND resolved_at IS NULL "
    "ORDER BY source FOR UPDATE"
)
_MARK_RESOLVED = text(
    "UPDATE referrals.reward_events SET resolved_at = now() "
    "WHERE source = ANY(CAST(:sources AS text[])) AND resolved_at IS NULL"
)


async def lock_events(session: ServiceTx, sources: Sequence[str]) -> list[str]:
    """Lock these events (in source order, like every caller that waits for them); returns
    those with rewards still held."""
    if not sources:
        return []
    rows = await session.execute(_LOCK, {"sources": sorted(set(sources))})
    return [r.source for r in rows]


async def held_rewards(session: ServiceTx, sources: Sequence[str]) -> list[HeldReward]:
    """The rewards still held of these events, which the caller has locked."""
    if not sources:
        return []
    rows = (await session.execute(_HELD, {"sources": list(sources)})).all()
    return [
        HeldReward(
            r.id,
            r.source,
            int(r.level),
            r.referrer_id,
            r.referee_id,
            int(r.amount),
            r.forfeited,
            r.flagged,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Settled:
    # For the caller's ledger batch, in this transaction.
    resolutions: list[ResolveHold]
    posted: int
    voided: int


async def settle(
    session: ServiceTx,
    sources: Sequence[str],
    held: Sequence[HeldReward],
    decide: Callable[[HeldReward], bool | None],
) -> Settled:
    """Resolve the held rewards of these locked events as `decide` says (True: post, False:
    void, None: keep held): the referrers' totals now, the ledger resolutions for the caller's
    batch. An event none of whose rewards stays held is marked resolved."""
    posts: list[HeldReward] = []
    voids: list[HeldReward] = []
    kept: set[str] = set()
    for reward in held:
        decision = decide(reward)
        if decision is None:
            kept.add(reward.source)
        else:
            (posts if decision else voids).append(reward)
    await resolve_totals(session, posts, voids)
    done = sorted(set(sources) - kept)
    if done:
        await session.execute(_MARK_RESOLVED, {"sources": done})
    return Settled(
        [post_reward(r.id) for r in posts] + [void_reward(r.id) for r in voids],
        len(posts),
        len(voids),
    )


def post_reward(reward_id: UUID) -> ResolveHold:
    return ResolveHold(
        id=transfer_id("referral_post", reward_id), pending_id=reward_id, kind="post"
    )


def void_reward(reward_id: UUID) -> ResolveHold:
    return ResolveHold(
        id=transfer_id("referral_void", reward_id), pending_id=reward_id, kind="void"
    )
