"""Referral rewards: holds from the `referral_rewards` account to the buyer's upline, created in
the transaction (and the ledger batch) of the qualifying event, posted by a scheduled job when
their hold period ends, voided when the event is refunded, the user is judged fraudulent, or
the referrer is banned or deleted by then.

A reward's id derives from (source event, level), so a replayed event pays once. A reward is
its ledger hold; what the ledger does not know (the referee, the date, whether anyone was told)
is one `referrals.reward_events` row per qualifying event.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text

from db import locks
from db.database import Database, ServiceTx
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET, DEFAULT_ASSET_DECIMALS
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.notifications.service import enqueue
from services.referrals.config import ReferralConfig
from services.referrals.fraud import check_shared_wallets
from services.referrals.holds import HeldReward, held_rewards, lock_events, settle
from services.referrals.service import upline
from services.referrals.totals import add_pending

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
    INSERT INTO referrals.reward_events (source, referee_id, ids, levels, referrers, amounts,
                                         available_at)
    VALUES (:source, :referee, CAST(:ids AS uuid[]), CAST(:levels AS smallint[]),
            CAST(:referrers AS uuid[]), CAST(:amounts AS numeric[]),
            now() + make_interval(days => :days))
    ON CONFLICT DO NOTHING
    RETURNING source
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
    """Store the event whose holds the caller's batch creates and run the rules that look at a
    reward (shared wallets). Before the ledger call: its locks on the shared system accounts
    are then held only until the commit. The referrers' open apps learn of a reward from its
    hold's `transfer` event (code `referral_reward`), which the ledger writes."""
    if not planned:
        return
    recorded = await session.scalar(
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
    if recorded is None:  # a replay: its rewards are counted already
        return
    await add_pending(
        session,
        [p.referrer_id for p in planned],
        [p.level for p in planned],
        [p.amount for p in planned],
    )
    await check_shared_wallets(session, buyer_id, [p.referrer_id for p in planned])


async def void_source(session: ServiceTx, source: str) -> list[ResolveHold]:
    """Void the event's held rewards (once) and give back the voids for the caller's ledger
    batch; a reward already posted stays paid."""
    sources = await lock_events(session, [source])
    settled = await settle(session, sources, await held_rewards(session, sources), _void)
    return settled.resolutions


def _void(_: HeldReward) -> bool:
    return False


def _when_due(reward: HeldReward) -> bool | None:
    """A banned or deleted referrer's share is not paid (credit_purchases rewards no such
    ancestor): voided when due, whatever the flags, rather than held for ever."""
    if reward.forfeited:
        return False
    return None if reward.flagged else True


# Due events, claimed with SKIP LOCKED: instances share the work. Walked in key order, so an
# event a flag keeps partly held is passed once a run, not claimed again and again.
_CLAIM_DUE = text(
    """
    SELECT source, available_at FROM referrals.reward_events
     WHERE resolved_at IS NULL AND available_at <= :now
       AND (available_at, source) > (CAST(:after_at AS timestamptz), CAST(:after AS text))
     ORDER BY available_at, source LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)
_START = datetime(1, 1, 1, tzinfo=UTC)


async def post_due_rewards(
    db: Database, *, now: datetime | None = None, batch_size: int = 500
) -> int:
    """Post every held reward whose date passed (`now`: the clock, a test's later day), unless
    a flag holds it, and void those of banned or deleted referrers; returns how many were
    posted. A transaction a batch of events; any number of instances may run it at once."""
    at = now or datetime.now(UTC)
    after_at, after = _START, ""
    posted = voided = 0
    while True:
        async with db.service() as session:
            rows = (
                await session.execute(
                    _CLAIM_DUE,
                    {"now": at, "after_at": after_at, "after": after, "limit": batch_size},
                )
            ).all()
            if rows:
                sources = [r.source for r in rows]
                held = await held_rewards(session, sources)
                settled = await settle(session, sources, held, _when_due)
                if settled.resolutions:
                    await apply(session, settled.resolutions)
                posted += settled.posted
                voided += settled.voided
        if len(rows) < batch_size:
            break
        after_at, after = rows[-1].available_at, rows[-1].source
    if voided:
        log.info("voided %d referral rewards of banned or deleted referrers", voided)
    if posted:
        log.info("posted %d referral rewards", posted)
    return posted


_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
# Events nobody was told of become notice items, a row per reward: written here, off the
# purchase path, and gone once announced.
_TAKE_NEW = text(
    """
    WITH new AS (
        SELECT source FROM referrals.reward_events WHERE notified_at IS NULL
         ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED
    ), taken AS (
        UPDATE referrals.reward_events e SET notified_at = now()
          FROM new WHERE e.source = new.source
        RETURNING e.ids, e.levels, e.referrers, e.amounts, e.available_at
    )
    INSERT INTO referrals.notice_items (reward_id, referrer_id, level, amount, available_at)
    SELECT x.id, x.referrer, x.level, x.amount, t.available_at
      FROM taken t
     CROSS JOIN LATERAL unnest(t.ids, t.levels, t.referrers, t.amounts)
           AS x(id, level, referrer, amount)
    ON CONFLICT DO NOTHING
    """
)
# The items of referrers not told in the last minute. A voided reward is never announced, nor
# one for a banned or deleted referrer (never paid: the posting job voids it when due).
_TAKE_DUE = text(
    """
    WITH due AS (
        SELECT DISTINCT i.referrer_id FROM referrals.notice_items i
          LEFT JOIN referrals.notices n ON n.referrer_id = i.referrer_id
         WHERE n.last_sent_at IS NULL OR n.last_sent_at <= now() - interval '1 minute'
    ), gone AS (
        DELETE FROM referrals.notice_items i USING due WHERE i.referrer_id = due.referrer_id
        RETURNING i.reward_id, i.referrer_id, i.level, i.amount, i.available_at
    )
    SELECT g.referrer_id, g.level, g.amount, g.available_at FROM gone g
     WHERE NOT EXISTS (SELECT FROM tokens.transfers r WHERE r.pending_id = g.reward_id
                         AND r.result = 'ok' AND r.kind <> 'post')
       AND NOT EXISTS (SELECT FROM auth.users u WHERE u.id = g.referrer_id
                         AND (u.banned_at IS NOT NULL OR u.deleted_at IS NOT NULL))
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
        await session.execute(_TAKE_NEW, {"limit": limit})
        rows = (await session.execute(_TAKE_DUE)).all()
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
