"""Stars payments and refunds whose updates never took effect, settled from Telegram's own
record (`getStarTransactions`, which the sandbox lists as Telegram does), and refunds that
race each other.

The ledger invariants are checked after every test by the `db` fixture."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiogram import Bot, Dispatcher

from db.database import Database, create_database
from db.urls import app_url_from_owner
from sandbox.botapi import BotApiServer, PaymentOutcome
from services.i18n import Catalog
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.schemas import Transfer
from services.ledger.service import apply, system_account, transfer_id, user_account
from services.purchases.tasks import Reconciled, reconcile_stars
from tests.integration.test_purchases_referrals import (
    VIBE,
    build_chain,
    buy,
    invoice_for,
    last_text,
    owner,
    pay,
    rewards,
    sales_of,
    spend,
    user_id,
    wallet,
)
from tests.pg import waiting_on_locks
from tests.telegram import ADMIN_ID, TOKEN, bot_dispatcher, send, tg_user

__all__ = ["owner"]  # a fixture, imported for the tests below
ROOT = Path(__file__).resolve().parents[2]


async def pay_unheard(
    api: BotApiServer, dp: Dispatcher, bot: Bot, user: dict[str, Any], pack_id: str
) -> str:
    """The person pays; Telegram takes the Stars but the bot never gets successful_payment."""
    slug = await invoice_for(api, dp, bot, user, pack_id)
    start = len(api.updates)
    paying = asyncio.create_task(api.user_pays(user, slug, deliver=False))
    while not (queries := [u for u in api.updates[start:] if "pre_checkout_query" in u]):
        await asyncio.sleep(0.01)
    await dp.feed_raw_update(bot, queries[0])
    outcome: PaymentOutcome = await paying
    assert outcome.status == "paid" and outcome.charge_id
    assert not [u for u in api.updates[start:] if "successful_payment" in u.get("message", {})]
    return outcome.charge_id


async def outbox(owner: asyncpg.Connection, template: str) -> list[dict[str, Any]]:
    rows = await owner.fetch(
        "SELECT chat_id, params FROM ops.outbox WHERE template = $1 ORDER BY id", template
    )
    return [{"chat_id": r["chat_id"], **json.loads(r["params"])} for r in rows]


async def test_a_payment_whose_update_never_came_is_credited_once_from_telegrams_record(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    sales = sales_of(db, bot)
    dp = bot_dispatcher(db, catalog, purchases=sales)
    await build_chain(api, dp, bot, owner, [7000, 7001])
    heard, _ = await buy(api, dp, bot, tg_user(7001), "stars_50")  # 20 welcome + 100
    unheard = await pay_unheard(api, dp, bot, tg_user(7001), "stars_250")
    assert await wallet(owner, 7001) == (120 * VIBE, 0)

    found = await reconcile_stars(sales)
    assert (found.credited, found.refunded) == (1, 0)
    assert await wallet(owner, 7001) == (670 * VIBE, 0)
    purchases = await owner.fetch("SELECT charge_id, vibe FROM tokens.purchases ORDER BY vibe")
    assert [(r["charge_id"], int(r["vibe"])) for r in purchases] == [
        (heard, 100 * VIBE),
        (unheard, 550 * VIBE),
    ]
    # The referrer is paid for it as for any purchase; the buyer is told by the outbox.
    held = await owner.fetch("SELECT amount, status FROM referrals.rewards ORDER BY amount")
    assert [(int(r["amount"]), r["status"]) for r in held] == [
        (10 * VIBE, "held"),
        (55 * VIBE, "held"),
    ]
    [notice] = await outbox(owner, "purchases.credited")
    assert notice == {"chat_id": 7001, "vibe": "550"}
    assert await owner.fetchval("SELECT seen FROM tokens.stars_sync") == 2

    # Read again, and with the update arriving late after all: nothing more is credited.
    assert await reconcile_stars(sales) == Reconciled()
    assert await wallet(owner, 7001) == (670 * VIBE, 0)


async def test_a_credit_that_fails_tells_the_buyer_the_truth_and_is_credited_later(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, _ = botapi
    sales = sales_of(db, bot)
    dp = bot_dispatcher(db, catalog, purchases=sales)
    buyer = tg_user(7101)
    await send(api, dp, bot, buyer, "/start")
    outcome, update = await pay(
        api, dp, bot, buyer, await invoice_for(api, dp, bot, buyer, "stars_50")
    )
    assert outcome.charge_id and update is not None
    # The database is away while the payment is credited (every retry of the batcher fails).
    away = create_database("postgresql://gv_app@127.0.0.1:1/away")
    here = sales.batcher._db
    sales.batcher._db = away
    try:
        with caplog.at_level(logging.WARNING):
            await dp.feed_raw_update(bot, update)
    finally:
        sales.batcher._db = here
        await away.dispose()
    assert "within a few minutes" in last_text(api, 7101)
    assert any(outcome.charge_id in r.getMessage() for r in caplog.records)
    assert await wallet(owner, 7101) == (20 * VIBE, 0)

    assert (await reconcile_stars(sales)).credited == 1
    assert await wallet(owner, 7101) == (120 * VIBE, 0)
    # Telegram delivering the update again would change nothing now.
    await dp.feed_raw_update(bot, update)
    assert await wallet(owner, 7101) == (120 * VIBE, 0)


async def test_a_refund_telegram_made_whose_update_was_lost_is_recorded(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    sales = sales_of(db, bot)
    dp = bot_dispatcher(db, catalog, purchases=sales)
    await build_chain(api, dp, bot, owner, [7200, 7201])
    charge_id, _ = await buy(api, dp, bot, tg_user(7201), "stars_250")
    assert await reconcile_stars(sales) == Reconciled()  # the payment was heard
    await api.refund_payment(api.state.payments[charge_id], deliver=False)

    found = await reconcile_stars(sales)
    assert (found.credited, found.refunded) == (0, 1)
    assert await wallet(owner, 7201) == (20 * VIBE, 0)
    assert await rewards(owner) == {1: (7200, 55 * VIBE, "voided")}
    assert await outbox(owner, "purchases.refunded") == [
        {"chat_id": 7201, "vibe": "550", "debt": "0"}
    ]
    assert await owner.fetchval("SELECT seen FROM tokens.stars_sync") == 2


async def test_instances_reconciling_at_once_settle_each_transaction_once(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    owner_url: str,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    sales = sales_of(db, bot)
    dp = bot_dispatcher(db, catalog, purchases=sales)
    buyers = [7300 + i for i in range(6)]
    for telegram_id in buyers:
        await send(api, dp, bot, tg_user(telegram_id), "/start")
        await pay_unheard(api, dp, bot, tg_user(telegram_id), "stars_50")
    # Four instances, each with its own pools and batcher, on one database.
    others = [create_database(app_url_from_owner(owner_url)) for _ in range(3)]
    try:
        found = await asyncio.gather(
            reconcile_stars(sales), *(reconcile_stars(sales_of(other, bot)) for other in others)
        )
    finally:
        for other in others:
            await other.dispose()
    assert sum(f.credited for f in found) == len(buyers)
    assert [await wallet(owner, b) for b in buyers] == [(120 * VIBE, 0)] * len(buyers)
    assert await owner.fetchval("SELECT count(*) FROM tokens.purchases") == len(buyers)
    assert len(await outbox(owner, "purchases.credited")) == len(buyers)
    assert await owner.fetchval("SELECT seen FROM tokens.stars_sync") == len(buyers)


async def test_two_refunds_of_one_buyer_at_once_end_as_if_one_followed_the_other(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    buyer = 7401
    await send(api, dp, bot, tg_user(buyer), "/start")
    first, _ = await buy(api, dp, bot, tg_user(buyer), "stars_50")
    second, _ = await buy(api, dp, bot, tg_user(buyer), "stars_50")  # 20 + 200
    start = len(api.updates)
    assert await bot.refund_star_payment(buyer, first)
    assert await bot.refund_star_payment(buyer, second)
    updates = [u for u in api.updates[start:] if "refunded_payment" in u.get("message", {})]
    # Telegram's two refunded_payment updates are handled at once, and both read the balance
    # (220) before the buyer's spend of 100 commits: both take-backs then meet 120.
    account = user_account(await user_id(owner, buyer))
    async with db.service() as session:
        # The spend's ledger call locks the buyer's account until this transaction commits.
        await apply(
            session,
            [
                Transfer(
                    id=transfer_id("test_spend", account),
                    debit=account,
                    credit=system_account("ai_spend"),
                    asset=DEFAULT_ASSET,
                    amount=100 * VIBE,
                    code="ai_spend",
                )
            ],
        )
        refunds = asyncio.gather(*(dp.feed_raw_update(bot, u) for u in updates))
        await waiting_on_locks(owner, 2)
    await refunds

    statuses = await owner.fetch("SELECT status FROM tokens.purchases")
    assert [r["status"] for r in statuses] == ["refunded", "refunded"]
    debt = await owner.fetchval("SELECT sum(amount) FROM tokens.debts")
    assert int(debt) == 80 * VIBE  # 200 credited, 120 there to take back
    assert await wallet(owner, buyer) == (0, 0)


async def test_an_admin_refund_tells_the_buyer_once_and_an_unknown_refund_says_nothing(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    buyer = 7501
    await send(api, dp, bot, tg_user(buyer), "/start")
    charge_id, _ = await buy(api, dp, bot, tg_user(buyer), "stars_50")
    await spend(db, owner, buyer, 110 * VIBE)  # 10 VIBE left of the 100 credited
    start = len(api.updates)
    await send(api, dp, bot, tg_user(ADMIN_ID, "Root"), f"/refund {charge_id} force")
    # Telegram's refunded_payment for the admin's refund arrives after it was recorded.
    [update] = [u for u in api.updates[start:] if "refunded_payment" in u.get("message", {})]
    await dp.feed_raw_update(bot, update)
    [notice] = await outbox(owner, "purchases.refunded_debt")
    assert notice == {"chat_id": buyer, "vibe": "10", "debt": "90"}
    assert not await outbox(owner, "purchases.refunded")
    text = catalog.get("ru", "purchases.refunded_debt", vibe="10", debt="90")
    assert "10 VIBE" in text and "90 VIBE" in text

    # A refunded_payment for a charge no purchase has: the buyer is shown no admin's error.
    told = len(api.state.chat(buyer).messages)
    foreign = dict(update["message"])
    foreign["refunded_payment"] = {
        **foreign["refunded_payment"],
        "telegram_payment_charge_id": "stxsbxUNKNOWN",
    }
    await dp.feed_raw_update(bot, {"update_id": update["update_id"] + 1000, "message": foreign})
    assert len(api.state.chat(buyer).messages) == told


_RECONCILER = """
import asyncio, sys
from bot.client import make_bot
from db.database import create_database
from integrations.telegram.stars import BotStars
from services.purchases.tasks import reconcile_stars
from tests.services import purchases_of

async def main() -> None:
    db = create_database(sys.argv[1], pool_size=2)
    bot = make_bot(sys.argv[2], sys.argv[3])
    try:
        found = await reconcile_stars(purchases_of(db, stars=BotStars(bot)), page=int(sys.argv[4]))
        print(found.credited, flush=True)
    finally:
        await bot.session.close()
        await db.dispose()

asyncio.run(main())
"""


async def test_two_processes_reconciling_at_once_credit_each_payment_once(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    owner_url: str,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, url = botapi
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    buyers = [7600 + i for i in range(7)]
    for telegram_id in buyers:
        await send(api, dp, bot, tg_user(telegram_id), "/start")
        await pay_unheard(api, dp, bot, tg_user(telegram_id), "stars_50")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RECONCILER,
            app_url_from_owner(owner_url),
            TOKEN,
            url,
            "2",  # pages of two: the one holding the lease reads four times
            stdout=asyncio.subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.wait_for(w.communicate(), 120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    # One held the lease and credited all; the other found it held, or nothing left.
    assert sorted(int(out) for out, _ in outputs) == [0, len(buyers)]
    assert [await wallet(owner, b) for b in buyers] == [(120 * VIBE, 0)] * len(buyers)
    assert len(await outbox(owner, "purchases.credited")) == len(buyers)
    assert await owner.fetchval("SELECT seen FROM tokens.stars_sync") == len(buyers)


async def test_a_lease_held_by_a_live_reader_waits_and_a_dead_ones_is_taken_over(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner: asyncpg.Connection,
) -> None:
    api, _ = botapi
    sales = sales_of(db, bot)
    dp = bot_dispatcher(db, catalog, purchases=sales)
    await send(api, dp, bot, tg_user(7701), "/start")
    await pay_unheard(api, dp, bot, tg_user(7701), "stars_50")
    # Another instance is reading (its lease runs for a while yet): this one leaves it be.
    await owner.execute(
        "UPDATE tokens.stars_sync SET holder = gen_random_uuid(),"
        " lease_until = now() + interval '1 minute'"
    )
    assert await reconcile_stars(sales) == Reconciled()
    assert await wallet(owner, 7701) == (20 * VIBE, 0)
    # That instance died holding it: once its lease runs out, the next run takes over.
    await owner.execute("UPDATE tokens.stars_sync SET lease_until = now() - interval '1 second'")
    assert (await reconcile_stars(sales)).credited == 1
    assert await wallet(owner, 7701) == (120 * VIBE, 0)
    assert await owner.fetchval("SELECT lease_until FROM tokens.stars_sync") is None
