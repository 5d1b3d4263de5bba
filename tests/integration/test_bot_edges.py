"""Edges where the bot's middlewares and its handlers must agree: a pre-checkout is always
answered, and a `/start` payload is read the same way by user creation and by the routers."""

from __future__ import annotations

import pytest
from aiogram import Bot
from sqlalchemy import text

from app.services import Limits
from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter, make_storage
from tests.integration.test_purchases_referrals import invoice_for, pay, sales_of
from tests.telegram import bot_dispatcher, send, tg_user

# Short enough that a pre-checkout nobody answers fails the test quickly, not in 10 s.
PRE_CHECKOUT_TIMEOUT = 2.0


async def referral_state(db: Database, telegram_id: int) -> tuple[str, bool]:
    """(the user's own referral code, whether the user is bound to a referrer)."""
    async with db.service() as session:
        row = (
            await session.execute(
                text(
                    "SELECT referral_code, referred_by IS NOT NULL FROM auth.users"
                    " WHERE telegram_id = :telegram_id"
                ),
                {"telegram_id": telegram_id},
            )
        ).one()
    return str(row[0]), bool(row[1])


def texts_to(api: BotApiServer, chat_id: int) -> list[str]:
    return [
        m.get("text", "")
        for m in api.state.chat(chat_id).messages
        if m.get("from", {}).get("is_bot")
    ]


async def test_a_person_over_the_flood_limit_can_still_pay(
    botapi: tuple[BotApiServer, str], bot: Bot, db: Database, catalog: Catalog
) -> None:
    api, _ = botapi
    api.pre_checkout_timeout = PRE_CHECKOUT_TIMEOUT
    throttle = RateLimiter.create(make_storage(None), "bot", "3/minute")
    limits = Limits(api_user=None, api_ip=None, bot=throttle)
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot), limits=limits)
    ann = tg_user(7101)
    slug = await invoice_for(api, dp, bot, ann, "stars_50")  # /buy and its button: 2 of 3
    await send(api, dp, bot, ann, "/help")  # the 3rd: the next update is over the limit
    outcome, update = await pay(api, dp, bot, ann, slug)
    assert outcome.status == "paid"
    assert len(api.calls_of("answerPreCheckoutQuery")) == 1
    assert update is not None
    await dp.feed_raw_update(bot, update)  # a payment report is never throttled either
    async with db.service() as session:
        assert await session.scalar(text("SELECT count(*) FROM tokens.purchases")) == 1


async def test_a_pre_checkout_a_middleware_stops_is_declined_with_the_reason(
    botapi: tuple[BotApiServer, str], bot: Bot, db: Database, catalog: Catalog
) -> None:
    api, _ = botapi
    api.pre_checkout_timeout = PRE_CHECKOUT_TIMEOUT
    dp = bot_dispatcher(db, catalog, purchases=sales_of(db, bot))
    slug = await invoice_for(api, dp, bot, tg_user(7201), "stars_50")
    # Between the invoice and Pay the person took a name we refuse: identity stops the query.
    outcome, update = await pay(api, dp, bot, tg_user(7201, "A\x00nn"), slug)
    assert (outcome.status, outcome.error_message) == (
        "declined",
        catalog.get("en", "error.invalid_profile"),
    )
    assert update is None


@pytest.mark.parametrize("separator", ["\n", "\t", "  "], ids=["newline", "tab", "two-spaces"])
async def test_a_payload_after_any_whitespace_binds_the_new_user(
    botapi: tuple[BotApiServer, str], bot: Bot, db: Database, catalog: Catalog, separator: str
) -> None:
    api, _ = botapi
    dp = bot_dispatcher(db, catalog)
    await send(api, dp, bot, tg_user(7301, "Ann"), "/start")
    code, _ = await referral_state(db, 7301)
    await send(api, dp, bot, tg_user(7302, "Bob"), f"/start{separator}ref_{code}")
    assert (await referral_state(db, 7302))[1]
    assert texts_to(api, 7302)[-1] == catalog.get("en", "referrals.link_bound", name="Ann")


@pytest.mark.parametrize(
    ("mention", "addressed_to_us"),
    [("other_bot", False), ("GoodVibe_Local_Bot", True)],
    ids=["another-bot", "this-bot-any-case"],
)
async def test_a_start_mentioning_a_bot_binds_only_when_it_is_this_one(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    mention: str,
    addressed_to_us: bool,
) -> None:
    api, _ = botapi
    assert api.username.lower() == "goodvibe_local_bot"
    dp = bot_dispatcher(db, catalog)
    await send(api, dp, bot, tg_user(7401, "Ann"), "/start")
    code, _ = await referral_state(db, 7401)
    await send(api, dp, bot, tg_user(7402, "Bob"), f"/start@{mention} ref_{code}")
    _, bound = await referral_state(db, 7402)
    said = texts_to(api, 7402)
    assert bound is addressed_to_us
    if addressed_to_us:
        assert said[-1] == catalog.get("en", "referrals.link_bound", name="Ann")
    else:
        assert said == []  # aiogram drops a command for another bot; so does user creation
