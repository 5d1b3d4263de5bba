"""Referral rewards: holds from the `referral_rewards` account to the buyer's upline, created in
the transaction (and the ledger batch) of the qualifying event, posted by a scheduled job when
their hold period ends, voided when the event is refunded, the user is judged fraudulent, or
the referrer is banned or deleted by then.

A reward's id derives from (source event, level), so a replayed event pays once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import TextClause, text

from db import locks
from db.database import Database, ServiceTx
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET, DEFAULT_ASSET_DECIMALS
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.notifications.service import enqueue
from services.referrals.config import ReferralConfig
from services.referrals.fraud import check_shared_wallets, void_reward
from services.referrals.service import upline
from services.referrals.totals import add_pending, resolve_totals

log = logging.getLogger(__name__)

REWARD_CODE = "referral_reward"
NOTICE = "referrals.reward_notice"
NOTICE_MANY = "referrals.reward_notice_many"


@dataclass(frozen=True)
class PlannedReward:
    id: UUID
    level: int
    referrer_id: UUID
    amount: int


def reward_id(source: str, level: int) -> UUID:
    return transfer_id("referral", source, level)


async def plan_rewards(
    session: ServiceTx, config: ReferralConfig, *, source: str, buyer_id: UUID, amount: int
) -> list[PlannedReward]:
    """The rewards a qualifying event of `amount` VIBE units pays: one per paid ancestor
    within the configured levels, floor(amount × bps / 10 000), zero amounts left out."""
    ancestors = await upline(session, buyer_id, len(config.levels_bps))
    planned = (
        PlannedReward(
            reward_id(source, a.level), a.level, a.user_id, config.reward(a.level, amount)
        )
        for a in ancestors
    )
    return [p for p in planned if p.amount > 0]


# Every purchase debits the rewards account: spread over shards (by buyer), it is not one row
# that all purchases queue for. What the program paid is the sum over the shards.
REWARD_SHARDS = 16


def hold_transfers(planned: list[PlannedReward], source: str, shard: int) -> list[Transfer]:
    """No ledger timeout: the hold must outlive its date while a flag is open; the job posts it."""
    return [
        Transfer(
            id=p.id,
            debit=system_account("referral_rewards", shard=shard % REWARD_SHARDS),
            credit=user_account(p.referrer_id),
            asset=DEFAULT_ASSET,
            amount=p.amount,
            code=REWARD_CODE,
            kind="pending",
            metadata={"source": source, "level": p.level},
        )
        for p in planned
    ]


_RECORD = text(
    """
    INSERT INTO referrals.rewards (id, source, level, referrer_id, referee_id, amount,
                                   available_at)
    SELECT x.id, :source, x.level, x.referrer, :referee, x.amount,
           now() + make_interval(days => :days)
      FROM unnest(CAST(:ids AS uuid[]), CAST(:levels AS smallint[]),
                  CAST(:referrers AS uuid[]), CAST(:amounts AS numeric[]))
           AS x(id, level, referrer, amount)
    ON CONFLICT DO NOTHING
    """
)


async def record_rewards(
    session: ServiceTx,
    config: ReferralConfig,
    planned: list[PlannedReward],
    *,
    source: str,
    buyer_id: UUID,
) -> None:
    """Store the rewards whose holds the caller's batch creates and run the rules that look at
    a reward (shared wallets). Before the ledger call: its locks on the shared system accounts
    are then held only until the commit. The referrers' open apps learn of a reward from its
    hold's `transfer` event (code `referral_reward`), which the ledger writes."""
    if not planned:
        return
    await session.execute(
        _RECORD,
        {
            "source": source,
            "referee": buyer_id,
            "days": config.hold_days,
            "ids": [p.id for p in planned],
            "levels": [p.level for p in planned],
            "referrers": [p.referrer_id for p in planned],
            "amounts": [p.amount for p in planned],
        },
    )
    await add_pending(
        session,
        [p.referrer_id for p in planned],
        [p.level for p in planned],
        [p.amount for p in planned],
    )
    await check_shared_wallets(session, buyer_id, [p.referrer_id for p in planned])


# A voided reward is never announced: marked as told, it also leaves rewards_unnotified_idx.
_VOID_SOURCE = text(
    "UPDATE referrals.rewards SET status = 'voided', resolved_at = now(), "
    "notified_at = coalesce(notified_at, now()) "
    "WHERE source = :source AND status = 'held' RETURNING id, referrer_id, level, amount"
)


async def void_source(session: ServiceTx, source: str) -> list[ResolveHold]:
    """Mark the event's held rewards voided (once) and give back the voids for the caller's
    ledger batch; a reward already posted stays paid."""
    rows = (await session.execute(_VOID_SOURCE, {"source": source})).all()
    await resolve_totals(session, rows, posted=False)
    return [void_reward(r.id) for r in rows]


# Due holds of users without an open flag, claimed with SKIP LOCKED: instances share the work.
# A banned or deleted referrer's share is not paid (credit_purchases rewards no such ancestor):
# their due holds are claimed apart and voided, whatever the flags, rather than held for ever.
_CLAIM_DUE = text(
    """
    UPDATE referrals.rewards r SET status = 'posted', resolved_at = now()
     WHERE r.id IN (
        SELECT d.id FROM referrals.rewards d
         WHERE d.status = 'held' AND d.available_at <= :now
           AND NOT EXISTS (SELECT FROM referrals.flags f WHERE f.status = 'open'
                             AND f.user_id IN (d.referrer_id, d.referee_id))
           AND NOT EXISTS (SELECT FROM auth.users u WHERE u.id = d.referrer_id
                             AND (u.banned_at IS NOT NULL OR u.deleted_at IS NOT NULL))
         ORDER BY d.available_at LIMIT :limit
         FOR UPDATE SKIP LOCKED)
     RETURNING r.id, r.referrer_id, r.level, r.amount
    """
)
_CLAIM_FORFEITED = text(
    """
    UPDATE referrals.rewards r SET status = 'voided', resolved_at = now(),
           notified_at = coalesce(r.notified_at, now())
     WHERE r.id IN (
        SELECT d.id FROM referrals.rewards d JOIN auth.users u ON u.id = d.referrer_id
         WHERE d.status = 'held' AND d.available_at <= :now
           AND (u.banned_at IS NOT NULL OR u.deleted_at IS NOT NULL)
         ORDER BY d.available_at LIMIT :limit
         FOR UPDATE OF d SKIP LOCKED)
     RETURNING r.id, r.referrer_id, r.level, r.amount
    """
)


def post_reward(reward_id: UUID) -> ResolveHold:
    return ResolveHold(
        id=transfer_id("referral_post", reward_id), pending_id=reward_id, kind="post"
    )


async def post_due_rewards(
    db: Database, *, now: datetime | None = None, batch_size: int = 500
) -> int:
    """Post every held reward whose date passed (`now`: the clock, a test's later day), and
    void those of banned or deleted referrers; returns how many were posted. Any number of
    instances may run it at once."""
    at = now or datetime.now(UTC)
    forfeited = await _resolve_due(db, _CLAIM_FORFEITED, at, batch_size, post=False)
    posted = await _resolve_due(db, _CLAIM_DUE, at, batch_size, post=True)
    if forfeited:
        log.info("voided %d referral rewards of banned or deleted referrers", forfeited)
    if posted:
        log.info("posted %d referral rewards", posted)
    return posted


async def _resolve_due(
    db: Database, claim: TextClause, now: datetime, batch_size: int, *, post: bool
) -> int:
    """Claim due holds with `claim` in batches and post or void them, a transaction a batch.
    Voids and posts never share one: each resolve_totals call locks its totals rows in order,
    and two calls in one transaction would not lock them in one order."""
    resolved = 0
    while True:
        async with db.service() as session:
            rows = (await session.execute(claim, {"now": now, "limit": batch_size})).all()
            if rows:
                await resolve_totals(session, rows, posted=post)
                resolve = post_reward if post else void_reward
                await apply(session, [resolve(r.id) for r in rows])
        resolved += len(rows)
        if len(rows) < batch_size:
            return resolved


_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
# Referrers not told in the last minute, and their rewards nobody was told about yet. Voids
# mark a reward as told; the status test also keeps out those voided before they did.
_CLAIM_NOTICES = text(
    """
    WITH due AS (
        SELECT r.id FROM referrals.rewards r
          LEFT JOIN referrals.notices n ON n.referrer_id = r.referrer_id
         WHERE r.notified_at IS NULL AND r.status <> 'voided'
           AND (n.last_sent_at IS NULL OR n.last_sent_at <= now() - interval '1 minute')
           -- Never paid (the posting job voids their holds when due): nothing to announce.
           AND NOT EXISTS (SELECT FROM auth.users u WHERE u.id = r.referrer_id
                             AND (u.banned_at IS NOT NULL OR u.deleted_at IS NOT NULL))
         ORDER BY r.created_at LIMIT :limit
         FOR UPDATE OF r SKIP LOCKED
    )
    UPDATE referrals.rewards r SET notified_at = now() FROM due WHERE r.id = due.id
    RETURNING r.referrer_id, r.level, r.amount, r.available_at
    """
)
_PACE = text(
    """
    INSERT INTO referrals.notices (referrer_id, last_sent_at)
    SELECT unnest(CAST(:referrers AS uuid[])), now()
    ON CONFLICT (referrer_id) DO UPDATE SET last_sent_at = excluded.last_sent_at
    """
)
_CHATS = text("SELECT id, telegram_id FROM auth.users WHERE id = ANY(CAST(:ids AS uuid[]))")


async def send_reward_notices(db: Database, *, limit: int = 5000) -> int:
    """One outbox message per referrer for the rewards they were not told about, at most one
    per referrer per minute (those arriving meanwhile wait for the next). One instance at a
    time (advisory lock), so two cannot both tell one referrer within the minute."""
    async with db.service() as session:
        if not await session.scalar(_TRY_LOCK, {"key": locks.REFERRAL_NOTICES}):
            return 0
        rows = (await session.execute(_CLAIM_NOTICES, {"limit": limit})).all()
        if not rows:
            return 0
        by_referrer: dict[UUID, list[tuple[int, int, datetime]]] = defaultdict(list)
        for r in rows:
            by_referrer[r.referrer_id].append((int(r.level), int(r.amount), r.available_at))
        await session.execute(_PACE, {"referrers": list(by_referrer)})
        chats = {
            r.id: int(r.telegram_id)
            for r in (await session.execute(_CHATS, {"ids": list(by_referrer)})).all()
        }
        for referrer, rewards in by_referrer.items():
            total = format_amount(sum(a for _, a, _ in rewards), DEFAULT_ASSET_DECIMALS)
            date = max(at for _, _, at in rewards).date().isoformat()
            levels = sorted({level for level, _, _ in rewards})
            single = len(rewards) == 1
            await enqueue(
                session,
                chat_id=chats[referrer],
                user_id=referrer,
                template=NOTICE if single else NOTICE_MANY,
                params={
                    "amount": total,
                    "asset": DEFAULT_ASSET,
                    "level": levels[0],
                    "levels": ", ".join(str(level) for level in levels),
                    "count": len(rewards),
                    "date": date,
                },
            )
        return len(by_referrer)
