"""What an admin's flag decision, a refund and a ban leave behind for the referral jobs: an
approved finding is not raised again from the same evidence, a voided reward is never
announced, and a due hold of a banned or deleted referrer is voided, not paid."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiogram import Bot

from db.database import Database
from db.migrate import downgrade, upgrade
from db.urls import asyncpg_dsn
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.ledger.service import transfer_id
from services.referrals.config import FraudRules
from services.referrals.rewards import post_due_rewards, send_reward_notices
from services.referrals.tasks import look_for_fraud
from tests.integration.test_purchases_referrals import (
    build_chain,
    buy,
    code_of,
    last_text,
    rewards,
    sales_of,
    wallet,
)
from tests.invariants import assert_invariants
from tests.telegram import ADMIN_ID, bot_dispatcher, send, tg_user

VIBE = 10**6
ADMIN = tg_user(ADMIN_ID, "Root")


@pytest.fixture
async def owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    yield conn
    await conn.close()


async def flags(owner: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await owner.fetch("SELECT rule, status FROM referrals.flags ORDER BY id")
    return [(r["rule"], r["status"]) for r in rows]


async def test_an_approved_daily_cap_stands_for_its_day_and_a_new_day_may_flag_again(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    owner_url: str,
) -> None:
    api, _ = botapi
    rules = FraudRules(daily_cap=15 * VIBE)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, fraud=rules))
    await build_chain(api, dp, bot, owner, [9700, 9701])
    for _ in range(2):
        await buy(api, dp, bot, tg_user(9701), "stars_50")
    assert await look_for_fraud(db, rules) == 1
    flag_id = await owner.fetchval("SELECT id FROM referrals.flags")
    await send(api, dp, bot, ADMIN, f"/flag_approve {flag_id}")
    assert "approved" in last_text(api, ADMIN_ID)
    # The next scans, the same day and nothing new: the approval stands and the holds post.
    assert await look_for_fraud(db, rules) == 0
    assert await flags(owner) == [("daily_cap", "approved")]
    later = datetime.now(UTC) + timedelta(days=8)
    assert await post_due_rewards(db, now=later) == 2
    assert await wallet(owner, 9700) == (40 * VIBE, 0)

    # A day later (the flag and the rewards moved back a day), over the cap again: new evidence.
    await owner.execute("UPDATE referrals.flags SET created_at = created_at - interval '1 day'")
    await owner.execute(
        "UPDATE referrals.reward_events SET created_at = created_at - interval '1 day'"
    )
    for _ in range(2):
        await buy(api, dp, bot, tg_user(9701), "stars_50")
    assert await look_for_fraud(db, rules) == 1
    assert await flags(owner) == [("daily_cap", "approved"), ("daily_cap", "open")]
    assert await post_due_rewards(db, now=later) == 0
    await assert_invariants(owner_url)


async def test_an_approved_or_rejected_farm_stands_until_more_referees_go_idle(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    rules = FraudRules(farm_referees=2, farm_days=3)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, fraud=rules))
    await send(api, dp, bot, tg_user(9600), "/start")
    code = await code_of(owner, 9600)

    async def invite_idle(*friends: int) -> None:
        for friend in friends:
            await send(api, dp, bot, tg_user(friend), f"/start ref_{code}")
        await owner.execute("UPDATE referrals.links SET created_at = now() - interval '4 days'")

    await invite_idle(9601, 9602)
    assert await look_for_fraud(db, rules) == 1
    flag_id = await owner.fetchval("SELECT id FROM referrals.flags WHERE status = 'open'")
    await send(api, dp, bot, ADMIN, f"/flag_approve {flag_id}")
    assert await look_for_fraud(db, rules) == 0  # the same two idle referees
    assert await flags(owner) == [("farm", "approved")]

    # A third idle referee: worse than what the admin approved, so it is raised again.
    await invite_idle(9603)
    assert await look_for_fraud(db, rules) == 1
    flag = await owner.fetchrow("SELECT id, evidence FROM referrals.flags WHERE status = 'open'")
    assert json.loads(flag["evidence"])["idle_referees"] == 3
    # A rejection without a ban leaves the referees idle: it stands against them just the same.
    await send(api, dp, bot, ADMIN, f"/flag_reject {flag['id']}")
    assert "rejected" in last_text(api, ADMIN_ID)
    assert await look_for_fraud(db, rules) == 0
    assert await flags(owner) == [("farm", "approved"), ("farm", "rejected")]


async def test_a_voided_reward_is_never_announced(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    owner_url: str,
) -> None:
    api, _ = botapi
    rules = FraudRules(velocity_per_hour=1)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, fraud=rules))
    # 8000 invites two within the hour: a velocity flag keeps 8000's rewards held.
    await build_chain(api, dp, bot, owner, [8000, 8001])
    await send(api, dp, bot, tg_user(8002), f"/start ref_{await code_of(owner, 8000)}")
    flag_id = await owner.fetchval("SELECT id FROM referrals.flags WHERE rule = 'velocity'")
    refunded, _ = await buy(api, dp, bot, tg_user(8001), "stars_50")
    await buy(api, dp, bot, tg_user(8002), "stars_50")
    # Both rewards are voided before the notice job runs: one by a refund, one by a rejection.
    await send(api, dp, bot, ADMIN, f"/refund {refunded}")
    assert "1 referral rewards voided" in last_text(api, ADMIN_ID)
    await send(api, dp, bot, ADMIN, f"/flag_reject {flag_id}")
    assert "1 held rewards voided" in last_text(api, ADMIN_ID)
    assert await send_reward_notices(db) == 0
    assert await owner.fetchval("SELECT count(*) FROM referrals.notice_items") == 0
    assert (
        await owner.fetchval(
            "SELECT count(*) FROM referrals.reward_events WHERE notified_at IS NULL"
        )
        == 0
    )
    # A reward still held is announced alone.
    await buy(api, dp, bot, tg_user(8001), "stars_50")
    assert await send_reward_notices(db) == 1
    notices = await owner.fetch(
        "SELECT template, params FROM ops.outbox WHERE template LIKE 'referrals.%'"
    )
    assert [n["template"] for n in notices] == ["referrals.reward_notice"]
    text = catalog.get("en", notices[0]["template"], **json.loads(notices[0]["params"]))
    assert text.startswith("+10 VIBE from a level-1 friend")
    # A referrer banned before the notice went is not told of a reward they will not be paid.
    await buy(api, dp, bot, tg_user(8001), "stars_50")
    await owner.execute("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 8000")
    await owner.execute("UPDATE referrals.notices SET last_sent_at = now() - interval '2 minutes'")
    assert await send_reward_notices(db) == 0
    await assert_invariants(owner_url)


async def test_a_due_hold_of_a_banned_or_deleted_referrer_is_voided_not_paid(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    owner_url: str,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [7000, 7001, 7002, 7003])
    await buy(api, dp, bot, tg_user(7003), "stars_50")
    # While the rewards are on hold, 7001 is banned and 7000 deletes their account.
    await owner.execute("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 7001")
    await owner.execute("UPDATE auth.users SET deleted_at = now() WHERE telegram_id = 7000")
    later = datetime.now(UTC) + timedelta(days=8)
    # Two instances at once: each hold is resolved by one of them.
    done = await asyncio.gather(post_due_rewards(db, now=later), post_due_rewards(db, now=later))
    assert sum(done) == 1
    assert await rewards(owner) == {
        1: (7002, 10 * VIBE, "posted"),
        2: (7001, 5 * VIBE, "voided"),
        3: (7000, 3 * VIBE, "voided"),
    }
    assert await wallet(owner, 7002) == (30 * VIBE, 0)
    assert await wallet(owner, 7001) == (20 * VIBE, 0)
    assert await wallet(owner, 7000) == (20 * VIBE, 0)
    # Each void is the ledger's, under the id every void of a reward takes.
    voided = await owner.fetch("SELECT id FROM referrals.rewards WHERE status = 'voided'")
    voids = await owner.fetch(
        "SELECT kind FROM tokens.transfers WHERE id = ANY($1::uuid[]) AND result = 'ok'",
        [transfer_id("referral_void", r["id"]) for r in voided],
    )
    assert [v["kind"] for v in voids] == ["void", "void"]
    totals = await owner.fetch(
        "SELECT u.telegram_id, t.pending, t.available FROM referrals.totals t "
        "JOIN auth.users u ON u.id = t.referrer_id WHERE t.pending <> 0 OR t.available <> 0"
    )
    assert [(r["telegram_id"], int(r["available"])) for r in totals] == [(7002, 10 * VIBE)]
    assert await post_due_rewards(db, now=later) == 0
    await assert_invariants(owner_url)


async def test_a_flag_holds_only_its_users_share_and_the_job_walks_past_it(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    owner_url: str,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [6000, 6001, 6002])
    flagged = await owner.fetchval("SELECT id FROM auth.users WHERE telegram_id = 6000")
    flag_id = await owner.fetchval(
        "INSERT INTO referrals.flags (user_id, rule, score, evidence)"
        " VALUES ($1, 'velocity', 60, '{}') RETURNING id",
        flagged,
    )
    # 6001's purchase pays only 6000; each of 6002's pays 6001 (level 1) and 6000 (level 2).
    await buy(api, dp, bot, tg_user(6001), "stars_50")
    for _ in range(2):
        await buy(api, dp, bot, tg_user(6002), "stars_50")
    later = datetime.now(UTC) + timedelta(days=8)
    # One event a transaction: the event 6000's flag holds whole comes first and stays due, and
    # the job still reaches the two behind it, paying 6001 and keeping 6000's share.
    assert await post_due_rewards(db, now=later, batch_size=1) == 2
    assert await wallet(owner, 6001) == (140 * VIBE, 0)  # 100 of them bought
    assert await wallet(owner, 6000) == (20 * VIBE, 20 * VIBE)
    unresolved = "SELECT count(*) FROM referrals.reward_events WHERE resolved_at IS NULL"
    assert await owner.fetchval(unresolved) == 3
    await assert_invariants(owner_url)
    # Rejected: 6000's held rewards, found through 6000's ledger holds, are voided.
    await send(api, dp, bot, ADMIN, f"/flag_reject {flag_id}")
    assert "3 held rewards voided" in last_text(api, ADMIN_ID)
    assert await wallet(owner, 6000) == (20 * VIBE, 0)
    assert await owner.fetchval(unresolved) == 0
    assert await post_due_rewards(db, now=later, batch_size=1) == 0
    await assert_invariants(owner_url)


async def test_the_reward_events_migration_moves_rewards_both_ways(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    owner_url: str,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [5000, 5001, 5002])
    await buy(api, dp, bot, tg_user(5002), "stars_50")
    assert await send_reward_notices(db) == 2  # both referrers told of the first purchase
    await buy(api, dp, bot, tg_user(5002), "stars_50")  # nobody told yet
    refunded, _ = await buy(api, dp, bot, tg_user(5001), "stars_50")
    await send(api, dp, bot, ADMIN, f"/refund {refunded}")  # voided before anyone was told
    await db.dispose()

    await downgrade(owner_url, "0024_batch_scaling")
    rows = await owner.fetch(
        "SELECT r.level, r.status, r.notified_at IS NULL AS untold, r.resolved_at IS NULL AS open"
        " FROM referrals.rewards r ORDER BY r.created_at, r.level"
    )
    assert [tuple(r) for r in rows] == [
        (1, "held", False, True),
        (2, "held", False, True),
        (1, "held", True, True),
        (2, "held", True, True),
        (1, "voided", False, False),
    ]
    await upgrade(owner_url)
    events = await owner.fetch(
        "SELECT cardinality(ids) AS n, notified_at IS NULL AS untold, resolved_at IS NULL AS open"
        " FROM referrals.reward_events ORDER BY created_at"
    )
    assert [tuple(e) for e in events] == [(2, False, True), (2, False, True), (1, False, False)]
    # The two rewards nobody was told of wait as notice items: told once, not twice or never.
    assert await owner.fetch(
        "SELECT i.level FROM referrals.notice_items i JOIN referrals.rewards r"
        " ON r.id = i.reward_id ORDER BY i.level"
    ) == [(1,), (2,)]
    await assert_invariants(owner_url)


async def test_a_rejection_waits_for_a_refund_of_the_flagged_buyer_instead_of_deadlocking(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    owner_url: str,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [4000, 4001])
    charge, _ = await buy(api, dp, bot, tg_user(4001), "stars_50")
    buyer = await owner.fetchval("SELECT id FROM auth.users WHERE telegram_id = 4001")
    raise_loop = (
        "INSERT INTO referrals.flags (user_id, rule, score, evidence)"
        " VALUES ($1, 'refund_loop', 50, '{}') ON CONFLICT (user_id, rule)"
        " WHERE status = 'open' DO UPDATE SET score = excluded.score RETURNING id"
    )
    flag_id = await owner.fetchval(raise_loop, buyer)
    # A refund's locks, in its order and held open: the purchase's event, then (below) the
    # refund-loop flag it raises again.
    refund = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        async with refund.transaction():
            await refund.execute(
                "SELECT FROM referrals.reward_events WHERE source = $1 FOR UPDATE",
                f"stars:{charge}",
            )
            reject = asyncio.create_task(send(api, dp, bot, ADMIN, f"/flag_reject {flag_id}"))
            waiting = 0
            for _ in range(500):
                waiting = await owner.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if waiting:
                    break
                await asyncio.sleep(0.01)
            assert waiting == 1  # the rejection waits for the event
            # Taking the flag the rejection would hold if it had taken it first: a deadlock.
            assert await refund.fetchval(raise_loop, buyer) == flag_id
        await reject
    finally:
        await refund.close()
    assert "1 held rewards voided" in last_text(api, ADMIN_ID)
    assert await flags(owner) == [("refund_loop", "rejected")]
    await assert_invariants(owner_url)
