"""Stars purchases and the 8-level referral program, end to end through the real aiogram
dispatcher, the sandbox Bot API (pre-checkout, payments, refunds) and PostgreSQL.

The ledger invariants are checked after every test by the `db` fixture."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiogram import Bot, Dispatcher

from db.database import Database
from db.urls import asyncpg_dsn
from integrations.telegram.stars import BotStars
from sandbox.botapi import BotApiServer, PaymentOutcome
from services.i18n import Catalog
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.schemas import Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.purchases.packs import parse_packs
from services.purchases.usecase import Purchases
from services.referrals.config import FraudRules
from services.referrals.rewards import post_due_rewards, send_reward_notices
from services.referrals.tasks import look_for_fraud
from tests.services import purchases_of
from tests.telegram import ADMIN_ID, bot_dispatcher, press, send, tg_user

VIBE = 10**6
# The 2400-VIBE pack (1000 Stars) bought at the bottom of a chain of ten: what each of the
# eight nearest ancestors gets, floor(2400 VIBE x bps / 10 000), and nothing above them.
CHAIN_REWARDS = {
    1: 240 * VIBE,  # 1000 bps
    2: 120 * VIBE,  # 500
    3: 72 * VIBE,  # 300
    4: 48 * VIBE,  # 200
    5: 24 * VIBE,  # 100
    6: 24 * VIBE,  # 100
    7: 12 * VIBE,  # 50
    8: 12 * VIBE,  # 50
}


def sales_of(db: Database, bot: Bot, *, packs: str | None = None, **referrals: Any) -> Purchases:
    """Purchases through the sandbox's bot; `packs`: STARS_PACKS instead of the default."""
    sales = purchases_of(db, stars=BotStars(bot), **referrals)
    if packs is None:
        return sales
    return replace(sales, config=replace(sales.config, packs=parse_packs(packs)))


@pytest.fixture
async def owner(owner_url: str) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    yield conn
    await conn.close()


async def user_id(owner: asyncpg.Connection, telegram_id: int) -> UUID:
    found: UUID = await owner.fetchval(
        "SELECT id FROM auth.users WHERE telegram_id = $1", telegram_id
    )
    return found


async def code_of(owner: asyncpg.Connection, telegram_id: int) -> str:
    code: str = await owner.fetchval(
        "SELECT referral_code FROM auth.users WHERE telegram_id = $1", telegram_id
    )
    return code


async def build_chain(
    api: BotApiServer, dp: Dispatcher, bot: Bot, owner: asyncpg.Connection, ids: Sequence[int]
) -> None:
    """Each user starts the bot through the invite link of the one before."""
    await send(api, dp, bot, tg_user(ids[0]), "/start")
    for parent, child in itertools.pairwise(ids):
        await send(api, dp, bot, tg_user(child), f"/start ref_{await code_of(owner, parent)}")


async def invoice_for(
    api: BotApiServer, dp: Dispatcher, bot: Bot, user: dict[str, Any], pack_id: str
) -> str:
    """/buy, then the pack's button: the bot sends the invoice; its slug."""
    await send(api, dp, bot, user, "/buy")
    menu = api.state.chat(int(user["id"])).messages[-1]
    await press(api, dp, bot, user, menu, f"buy:{pack_id}")
    invoice: str = api.state.chat(int(user["id"])).messages[-1]["sandbox_invoice_slug"]
    return invoice


async def pay(
    api: BotApiServer, dp: Dispatcher, bot: Bot, user: dict[str, Any], slug: str
) -> tuple[PaymentOutcome, dict[str, Any] | None]:
    """The person pays: the pre-checkout query goes through the dispatcher, which answers it;
    returns the outcome and the `successful_payment` update (not yet fed to the bot)."""
    start = len(api.updates)
    paying = asyncio.create_task(api.user_pays(user, slug))
    while not (queries := [u for u in api.updates[start:] if "pre_checkout_query" in u]):
        if paying.done():
            break
        await asyncio.sleep(0.01)
    if queries:
        await dp.feed_raw_update(bot, queries[0])
    outcome = await paying
    paid = [u for u in api.updates[start:] if "successful_payment" in u.get("message", {})]
    return outcome, (paid[0] if paid else None)


async def buy(
    api: BotApiServer, dp: Dispatcher, bot: Bot, user: dict[str, Any], pack_id: str
) -> tuple[str, dict[str, Any]]:
    outcome, update = await pay(api, dp, bot, user, await invoice_for(api, dp, bot, user, pack_id))
    assert outcome.status == "paid" and outcome.charge_id and update is not None
    await dp.feed_raw_update(bot, update)
    return outcome.charge_id, update


async def rewards(owner: asyncpg.Connection) -> dict[int, tuple[int, int, str]]:
    """level -> (referrer's telegram id, amount, status)."""
    rows = await owner.fetch(
        "SELECT r.level, u.telegram_id, r.amount, r.status FROM referrals.rewards r "
        "JOIN auth.users u ON u.id = r.referrer_id ORDER BY r.level"
    )
    return {r["level"]: (r["telegram_id"], int(r["amount"]), r["status"]) for r in rows}


async def wallet(owner: asyncpg.Connection, telegram_id: int) -> tuple[int, int]:
    """(posted balance, pending credits) of the user's VIBE account."""
    row = await owner.fetchrow(
        "SELECT a.credits_posted - a.debits_posted AS posted, a.credits_pending AS pending "
        "FROM tokens.accounts a JOIN auth.users u ON u.id = a.user_id "
        "WHERE u.telegram_id = $1 AND a.asset = 'VIBE'",
        telegram_id,
    )
    return (int(row["posted"]), int(row["pending"])) if row else (0, 0)


def last_text(api: BotApiServer, chat_id: int) -> str:
    text: str = api.state.chat(chat_id).messages[-1].get("text", "")
    return text


CHAIN = list(range(1001, 1011))  # 1001 at the top, 1010 at the bottom


async def test_a_chain_of_ten_pays_the_eight_nearest_ancestors_once_and_a_refund_voids_all(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, CHAIN)
    bottom = CHAIN[-1]
    # The closure rows of the bottom user: its 8 nearest ancestors, nearest first.
    upline = await owner.fetch(
        "SELECT l.depth, u.telegram_id FROM referrals.links l JOIN auth.users u "
        "ON u.id = l.ancestor_id WHERE l.descendant_id = $1 ORDER BY l.depth",
        await user_id(owner, bottom),
    )
    assert [(r["depth"], r["telegram_id"]) for r in upline] == [
        (level, CHAIN[-1 - level]) for level in range(1, 9)
    ]
    assert "joined through" in last_text(api, bottom)
    # Telegram repeats the payload on every tap: nothing is rebound.
    await send(api, dp, bot, tg_user(bottom), f"/start ref_{await code_of(owner, CHAIN[0])}")
    assert "only count for new users" in last_text(api, bottom)

    before = await owner.fetchval("SELECT coalesce(max(id), 0) FROM ops.events")
    charge_id, update = await buy(api, dp, bot, tg_user(bottom), "stars_1000")
    expected = {
        level: (CHAIN[-1 - level], amount, "held") for level, amount in CHAIN_REWARDS.items()
    }
    assert await rewards(owner) == expected
    assert await wallet(owner, bottom) == (20 * VIBE + 2400 * VIBE, 0)
    assert await wallet(owner, CHAIN[0]) == (20 * VIBE, 0)  # level 9: nothing
    for level, (telegram_id, amount, _) in expected.items():
        assert await wallet(owner, telegram_id) == (20 * VIBE, amount), level
    # The referrers' and the buyer's open apps are told, in the purchase's transaction: each
    # referrer by their hold's transfer event, once.
    events = await owner.fetch(
        "SELECT u.telegram_id, e.type, e.data FROM ops.events e JOIN auth.users u "
        "ON u.id = e.user_id WHERE e.type IN ('transfer', 'balance') AND e.id > $1"
        " ORDER BY e.id",
        before,
    )
    held = [
        (r["telegram_id"], int(json.loads(r["data"])["amount"]))
        for r in events
        if r["type"] == "transfer" and json.loads(r["data"])["code"] == "referral_reward"
    ]
    assert sorted(held) == sorted((t, amount) for t, amount, _ in expected.values())
    assert {json.loads(r["data"])["kind"] for r in events if r["type"] == "transfer"} == {
        "single",
        "pending",
    }
    # The balances, from the ledger's trigger: the buyer's only. A reward hold moves nothing a
    # referrer's balance shows (pending credits are not in it) until it is posted.
    assert [r["telegram_id"] for r in events if r["type"] == "balance"] == [bottom]

    # Delivered again, then 20 times at once: paid once.
    await dp.feed_raw_update(bot, update)
    await asyncio.gather(*(dp.feed_raw_update(bot, update) for _ in range(20)))
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == 1
    assert await rewards(owner) == expected
    assert await wallet(owner, bottom) == (2420 * VIBE, 0)
    credited = [m for m in api.calls_of("sendMessage") if "+2400 VIBE" in m["text"]]
    assert len(credited) == 1

    # The admin refunds: the Stars go back, the credit is reversed, every level is voided.
    admin = tg_user(ADMIN_ID, "Root")
    await send(api, dp, bot, admin, f"/refund {charge_id}")
    assert "Refunded" in last_text(api, ADMIN_ID)
    assert api.state.payments[charge_id].refunded
    assert {level: r[2] for level, r in (await rewards(owner)).items()} == dict.fromkeys(
        range(1, 9), "voided"
    )
    assert await wallet(owner, bottom) == (20 * VIBE, 0)
    for level, (telegram_id, _, _) in expected.items():
        assert await wallet(owner, telegram_id) == (20 * VIBE, 0), level
    # Telegram's refunded_payment update for that refund changes nothing more.
    [refund_update] = [u for u in api.updates if "refunded_payment" in u.get("message", {})]
    await dp.feed_raw_update(bot, refund_update)
    assert await wallet(owner, bottom) == (20 * VIBE, 0)
    status = await owner.fetchval("SELECT status FROM tokens.purchases")
    assert status == "refunded"


async def test_rewards_round_down_and_a_banned_ancestor_is_skipped_not_passed_up(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    sales = sales_of(db, bot, packs="7:0.333333")
    dp = bot_dispatcher(db, catalog, purchases=sales)
    chain = [2001, 2002, 2003, 2004]
    await build_chain(api, dp, bot, owner, chain)
    await owner.execute("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 2002")
    await buy(api, dp, bot, tg_user(2004), "stars_7")
    # 333 333 units: L1 floor(33 333.3) = 33 333, L2 banned (not paid, not passed up),
    # L3 floor(9 999.99) = 9 999.
    assert await rewards(owner) == {1: (2003, 33_333, "held"), 3: (2001, 9_999, "held")}


async def test_self_and_unknown_codes_are_ignored_with_a_word(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog)
    await send(api, dp, bot, tg_user(3001), "/start ref_nobodyhasthis")
    assert "not valid" in last_text(api, 3001)
    await send(api, dp, bot, tg_user(3001), f"/start ref_{await code_of(owner, 3001)}")
    assert "your own invite link" in last_text(api, 3001)
    assert await owner.fetchval("SELECT count(*) FROM referrals.links") == 0


async def test_pre_checkout_refuses_another_buyer_a_changed_price_and_a_banned_buyer(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    ann, bob = tg_user(4001), tg_user(4002, "Bob")
    await send(api, dp, bot, bob, "/start")
    slug = await invoice_for(api, dp, bot, ann, "stars_50")
    outcome, update = await pay(api, dp, bot, bob, slug)
    assert (outcome.status, outcome.error_message) == (
        "declined",
        catalog.get("en", "error.not_the_buyer"),
    )
    assert update is None
    # An invoice for a pack sold at another price since.
    changed = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, packs="50:90"))
    outcome, _ = await pay(api, changed, bot, ann, slug)
    assert outcome.error_message == catalog.get("en", "error.price_changed", stars=50)
    await owner.execute("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 4001")
    outcome, _ = await pay(api, dp, bot, ann, slug)
    assert outcome.status == "declined"
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == 0


async def spend(db: Database, owner: asyncpg.Connection, telegram_id: int, amount: int) -> None:
    """The buyer spends tokens (to the AI spend account, as a generation will)."""
    buyer = await user_id(owner, telegram_id)
    async with db.service() as session:
        await apply(
            session,
            [
                Transfer(
                    id=transfer_id("test_spend", buyer, amount),
                    debit=user_account(buyer),
                    credit=system_account("ai_spend"),
                    asset=DEFAULT_ASSET,
                    amount=amount,
                    code="ai_spend",
                )
            ],
        )


async def test_a_refund_after_spending_is_refused_with_figures_and_force_leaves_a_debt(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    buyer = 5001
    await build_chain(api, dp, bot, owner, [5000, buyer])
    charge_id, _ = await buy(api, dp, bot, tg_user(buyer), "stars_50")  # +100 VIBE
    await spend(db, owner, buyer, 110 * VIBE)  # 120 - 110: 10 VIBE left of the 100 credited
    admin = tg_user(ADMIN_ID, "Root")
    await send(api, dp, bot, admin, f"/refund {charge_id}")
    refused = last_text(api, ADMIN_ID)
    assert "refused" in refused and "100 VIBE" in refused and "has 10 VIBE" in refused
    assert "90 VIBE already spent" in refused
    assert not api.state.payments[charge_id].refunded
    assert await rewards(owner) == {1: (5000, 10 * VIBE, "held")}

    await send(api, dp, bot, admin, f"/refund {charge_id} force")
    assert api.state.payments[charge_id].refunded
    assert await wallet(owner, buyer) == (0, 0)  # never negative
    assert await rewards(owner) == {1: (5000, 10 * VIBE, "voided")}
    debt = await owner.fetchrow("SELECT amount, settled FROM tokens.debts")
    assert (int(debt["amount"]), int(debt["settled"])) == (90 * VIBE, 0)

    # The next purchase settles the debt first.
    await buy(api, dp, bot, tg_user(buyer), "stars_50")
    assert await wallet(owner, buyer) == (10 * VIBE, 0)
    debt = await owner.fetchrow("SELECT amount, settled FROM tokens.debts")
    assert int(debt["settled"]) == 90 * VIBE
    assert "went to the balance" in last_text(api, buyer)


async def test_a_refund_telegram_makes_itself_follows_the_same_path(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [6000, 6001])
    charge_id, _ = await buy(api, dp, bot, tg_user(6001), "stars_250")
    start = len(api.updates)
    # Telegram refunds on its own (the bot did not call refundStarPayment through us).
    assert await bot.refund_star_payment(6001, charge_id)
    [update] = [u for u in api.updates[start:] if "refunded_payment" in u.get("message", {})]
    await asyncio.gather(*(dp.feed_raw_update(bot, update) for _ in range(5)))
    assert await wallet(owner, 6001) == (20 * VIBE, 0)
    assert await rewards(owner) == {1: (6000, 55 * VIBE, "voided")}
    assert (
        await owner.fetchval("SELECT count(*) FROM tokens.transfers WHERE code = 'stars_refund'")
        == 1
    )


async def test_the_hold_job_posts_rewards_after_the_period_and_not_before(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [7000, 7001, 7002])
    await buy(api, dp, bot, tg_user(7002), "stars_50")
    now = datetime.now(UTC)
    assert await post_due_rewards(db, now=now) == 0
    assert await post_due_rewards(db, now=now + timedelta(days=6, hours=23)) == 0
    assert {r[2] for r in (await rewards(owner)).values()} == {"held"}
    # Two instances at once: each reward is posted by one of them.
    later = now + timedelta(days=7, minutes=1)
    done = await asyncio.gather(post_due_rewards(db, now=later), post_due_rewards(db, now=later))
    assert sum(done) == 2
    assert await rewards(owner) == {
        1: (7001, 10 * VIBE, "posted"),
        2: (7000, 5 * VIBE, "posted"),
    }
    assert await wallet(owner, 7001) == (30 * VIBE, 0)
    assert await wallet(owner, 7000) == (25 * VIBE, 0)


async def test_referrers_get_one_notice_per_minute_for_many_rewards(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [8000, 8001])
    for _ in range(3):
        await buy(api, dp, bot, tg_user(8001), "stars_50")
    assert await send_reward_notices(db) == 1
    await buy(api, dp, bot, tg_user(8001), "stars_50")
    assert await send_reward_notices(db) == 0  # told less than a minute ago
    notices = await owner.fetch(
        "SELECT template, params FROM ops.outbox WHERE template LIKE 'referrals.%'"
    )
    assert len(notices) == 1
    assert notices[0]["template"] == "referrals.reward_notice_many"
    text = catalog.get("en", notices[0]["template"], **json.loads(notices[0]["params"]))
    assert text.startswith("+30 VIBE from 3 friend purchases (levels 1)")
    await owner.execute("UPDATE referrals.notices SET last_sent_at = now() - interval '61 seconds'")
    assert await send_reward_notices(db) == 1


async def test_velocity_and_shared_wallet_rules_flag_and_keep_rewards_held_until_decided(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    rules = FraudRules(velocity_per_hour=2)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, fraud=rules))
    # 9000 invites three people within the hour: over the velocity threshold of 2.
    await send(api, dp, bot, tg_user(9000), "/start")
    code = await code_of(owner, 9000)
    for friend in (9001, 9002, 9003):
        await send(api, dp, bot, tg_user(friend), f"/start ref_{code}")
    flag = await owner.fetchrow("SELECT id, rule, evidence, status FROM referrals.flags")
    assert (flag["rule"], flag["status"]) == ("velocity", "open")
    assert '"referees_last_hour": 3' in flag["evidence"]
    await buy(api, dp, bot, tg_user(9001), "stars_50")
    later = datetime.now(UTC) + timedelta(days=8)
    assert await post_due_rewards(db, now=later) == 0  # held past its date
    admin = tg_user(ADMIN_ID, "Root")
    await send(api, dp, bot, admin, "/flags")
    assert f"#{flag['id']} velocity" in last_text(api, ADMIN_ID)
    await send(api, dp, bot, admin, f"/flag {flag['id']}")
    assert "referees_last_hour" in last_text(api, ADMIN_ID)
    await send(api, dp, bot, admin, f"/flag_approve {flag['id']}")
    assert "approved" in last_text(api, ADMIN_ID)
    decided = await owner.fetchrow("SELECT status, decided_by, decided_at FROM referrals.flags")
    assert decided["status"] == "approved" and decided["decided_at"] is not None
    assert decided["decided_by"] == await user_id(owner, ADMIN_ID)
    await send(api, dp, bot, admin, f"/flag_approve {flag['id']}")
    assert last_text(api, ADMIN_ID) == catalog.get("en", "error.flag_decided")
    assert await post_due_rewards(db, now=later) == 1
    assert await wallet(owner, 9000) == (30 * VIBE, 0)

    # Shared wallet: 9002 shares an address with their referrer 9000.
    u9000, u9002 = await user_id(owner, 9000), await user_id(owner, 9002)
    await owner.execute(
        "INSERT INTO auth.wallet_addresses (user_id, address, kind)"
        " VALUES ($1, 'EQshared', 'ton'), ($2, 'EQshared', 'withdrawal'),"
        " ($2, 'EQmine', 'ton'), ($3, 'EQmine', 'ton')",
        u9000,
        u9002,
        await user_id(owner, 9003),  # not 9002's upline: not a finding
    )
    await buy(api, dp, bot, tg_user(9002), "stars_50")
    shared = await owner.fetchrow(
        "SELECT id, evidence FROM referrals.flags WHERE rule = 'shared_wallet' AND status = 'open'"
    )
    assert "EQshared" in shared["evidence"] and "EQmine" not in shared["evidence"]
    assert await post_due_rewards(db, now=later) == 0
    await send(api, dp, bot, admin, f"/flag_reject {shared['id']} ban")
    assert "1 held rewards voided" in last_text(api, ADMIN_ID)
    assert await owner.fetchval("SELECT banned_at IS NOT NULL FROM auth.users WHERE id = $1", u9002)
    assert await wallet(owner, 9000) == (30 * VIBE, 0)
    statuses = await owner.fetch("SELECT status FROM referrals.rewards ORDER BY created_at")
    assert [r["status"] for r in statuses] == ["posted", "voided"]


async def test_flag_commands_are_for_admins(
    botapi: tuple[BotApiServer, str], bot: Bot, db: Database, catalog: Catalog
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog)
    for command in ("/flags", "/flag 1", "/flag_reject 1", "/refund x"):
        await send(api, dp, bot, tg_user(9500), command)
        assert last_text(api, 9500) == catalog.get("en", "admin.refused")


async def test_farm_and_refund_loop_rules_raise_flags_with_evidence(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    rules = FraudRules(farm_referees=2, farm_days=3, refund_loops=2)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, fraud=rules))
    await send(api, dp, bot, tg_user(9600), "/start")
    code = await code_of(owner, 9600)
    for friend in (9601, 9602):
        await send(api, dp, bot, tg_user(friend), f"/start ref_{code}")
    assert await look_for_fraud(db, rules) == 0  # too recent to judge
    await owner.execute("UPDATE referrals.links SET created_at = now() - interval '4 days'")
    # Twice at once, as two instances would: one flag.
    assert sum(await asyncio.gather(look_for_fraud(db, rules), look_for_fraud(db, rules))) >= 1
    farm = await owner.fetch("SELECT user_id, evidence FROM referrals.flags WHERE rule = 'farm'")
    assert [r["user_id"] for r in farm] == [await user_id(owner, 9600)]
    assert '"idle_referees": 2' in farm[0]["evidence"]
    assert await look_for_fraud(db, rules) == 0  # already open

    admin = tg_user(ADMIN_ID, "Root")
    for _ in range(2):
        charge_id, _ = await buy(api, dp, bot, tg_user(9601), "stars_50")
        await send(api, dp, bot, admin, f"/refund {charge_id}")
    loop = await owner.fetchrow(
        "SELECT user_id, evidence FROM referrals.flags WHERE rule = 'refund_loop'"
    )
    assert loop["user_id"] == await user_id(owner, 9601)
    assert '"refunds_30_days": 2' in loop["evidence"]


async def test_the_daily_cap_rule_flags_a_referrer_and_keeps_their_rewards_held(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    rules = FraudRules(daily_cap=15 * VIBE)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot, fraud=rules))
    await build_chain(api, dp, bot, owner, [9700, 9701])
    await buy(api, dp, bot, tg_user(9701), "stars_50")
    assert await look_for_fraud(db, rules) == 0  # 10 VIBE today: under the cap
    await buy(api, dp, bot, tg_user(9701), "stars_50")
    assert await look_for_fraud(db, rules) == 1
    flag = await owner.fetchrow("SELECT user_id, evidence FROM referrals.flags")
    assert flag["user_id"] == await user_id(owner, 9700)
    assert json.loads(flag["evidence"]) == {"rewards_today": str(20 * VIBE), "cap": str(15 * VIBE)}
    assert await look_for_fraud(db, rules) == 0  # flagged once
    later = datetime.now(UTC) + timedelta(days=8)
    assert await post_due_rewards(db, now=later) == 0


async def test_invite_shows_the_link_a_share_button_and_eight_levels(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    await build_chain(api, dp, bot, owner, [9800, 9801, 9802])
    await buy(api, dp, bot, tg_user(9802), "stars_50")
    await send(api, dp, bot, tg_user(9800), "/invite")
    message = api.state.chat(9800).messages[-1]
    code = await code_of(owner, 9800)
    text = message["text"]
    assert f"https://t.me/goodvibe_test_bot?start=ref_{code}" in text
    lines = [line for line in text.split("\n") if line.startswith("Level ")]
    assert len(lines) == 8
    assert lines[0] == "Level 1: 1 friends · 0 VIBE on hold · 0 VIBE paid"
    assert lines[1] == "Level 2: 1 friends · 5 VIBE on hold · 0 VIBE paid"
    [[button]] = message["reply_markup"]["inline_keyboard"]
    assert button["url"].startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2F")
