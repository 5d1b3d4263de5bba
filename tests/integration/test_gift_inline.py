"""Inline mode shares gift links: `@bot gift 10 [ASSET] [message]` through the local Bot API.

Typing never escrows: the results are links already made; the results' button opens the Mini
App's gift form. A chosen result is a ready message with a Claim button (the startapp link).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import text

from db.database import Database
from integrations.telegram.gift_share import BotGiftShare
from sandbox.botapi import BotApiServer, TelegramError
from services.gifts.errors import GiftNotFound, ShareUnavailable
from services.gifts.sharing import share_message
from services.gifts.usecase import Gifts
from services.i18n import Catalog
from tests.integration.test_promo_gifts_bot import last_text, user_of
from tests.telegram import bot, botapi, dispatcher, send, tg_user  # noqa: F401

ANN = tg_user(311, "Ann", username="ann_i")
BOB = tg_user(312, "Bob", username="bob_i", language_code="ru")


async def inline(
    api: BotApiServer, dp: Dispatcher, bot: Bot, user: dict[str, Any], query: str
) -> dict[str, Any]:
    """The person types `@bot <query>`; the update goes through the real dispatcher."""
    seen = len(api.updates)
    asked = asyncio.create_task(api.user_inline_query(user, query))
    while len(api.updates) == seen:
        await asyncio.sleep(0.01)
    await dp.feed_raw_update(bot, api.updates[-1])
    answer = await asked
    assert answer is not None, "the bot did not answer the inline query"
    return answer


async def gift_count(db: Database) -> int:
    async with db.service() as session:
        return int(await session.scalar(text("SELECT count(*) FROM gifts.gifts")) or 0)


async def test_inline_queries_offer_open_links_and_never_escrow(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/start")
    await send(api, dispatcher, bot, BOB, "/start")
    ann = await user_of(db, ANN["id"])
    gifts: Gifts = dispatcher["gifts"]
    made = await gifts.create(
        creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=3_500_000, message="hi"
    )
    assert made.secret is not None
    # A link made under another key (say, before a key change) is never offered with a link
    # that would not open it.
    other = Gifts(db, gifts.assets, ttl=gifts.ttl, bot_username=gifts.bot_username, p2p=gifts.p2p)
    await other.create(creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=1_000_000)
    before = await gift_count(db)

    answer = await inline(api, dispatcher, bot, ANN, "gift")
    assert [r["id"] for r in answer["results"]] == [made.id.hex]
    result = answer["results"][0]
    assert result["title"] == catalog.get(
        "en", "gifts.inline_link_title", amount="3.5", asset="VIBE"
    )
    claim = result["reply_markup"]["inline_keyboard"][0][0]
    assert claim == {
        "text": catalog.get("en", "gifts.inline_claim"),
        "url": f"https://t.me/{gifts.bot_username}?startapp=gift_{made.secret}",
    }
    assert answer["is_personal"] is True
    assert answer["button"]["text"] == catalog.get("en", "gifts.inline_make")
    assert parse_qs(urlsplit(answer["button"]["web_app"]["url"]).query) == {"gift": ["new"]}

    matching = await inline(api, dispatcher, bot, ANN, "gift 3,5 VIBE for you")
    assert [r["id"] for r in matching["results"]] == [made.id.hex]
    form = parse_qs(urlsplit(matching["button"]["web_app"]["url"]).query)
    assert form == {"gift": ["3.5"], "asset": ["VIBE"], "message": ["for you"]}
    other_amount = await inline(api, dispatcher, bot, ANN, "gift 2 vibe")
    assert other_amount["results"] == []
    assert other_amount["button"]["text"] == catalog.get(
        "en", "gifts.inline_create", amount="2", asset="VIBE"
    )
    # Without an asset code the words are the message; the asset is VIBE.
    worded = await inline(api, dispatcher, bot, ANN, "gift 2 thanks a lot")
    assert parse_qs(urlsplit(worded["button"]["web_app"]["url"]).query)["message"] == [
        "thanks a lot"
    ]

    for query, key, params in (
        ("gift ten", "gifts.inline_bad_amount", {"asset": "VIBE"}),
        ("gift 0", "gifts.inline_bad_amount", {"asset": "VIBE"}),
        ("gift -5", "gifts.inline_bad_amount", {"asset": "VIBE"}),
        ("gift 1.1234567", "gifts.inline_too_many_decimals", {"asset": "VIBE", "decimals": 6}),
        ("gift 1" + "0" * 45, "gifts.inline_too_large", {"asset": "VIBE"}),
        ("gift 10 NOPE", "gifts.inline_bad_asset", {"asset": "NOPE"}),
        ("gift 10 VIBE " + "x" * 201, "gifts.inline_long_message", {"max": 200}),
    ):
        bad = await inline(api, dispatcher, bot, ANN, query)
        assert bad["results"] == [], query
        expected = catalog.get("en", key, **params)
        assert bad["button"]["text"] == expected and len(expected) <= 64, query
    # Russian for a Russian client.
    ru = await inline(api, dispatcher, bot, BOB, "gift 1.1234567")
    assert ru["button"]["text"] == catalog.get(
        "ru", "gifts.inline_too_many_decimals", asset="VIBE", decimals=6
    )
    assert await gift_count(db) == before  # typing made nothing

    # Ann picks her link: a ready message with the Claim button lands in the chat.
    await inline(api, dispatcher, bot, ANN, "gift")
    sent = await api.user_chooses_inline(ANN, made.id.hex)
    assert sent["via_bot"]["username"] == api.username
    assert sent["reply_markup"]["inline_keyboard"][0][0]["url"] == claim["url"]
    assert "3.5 VIBE" in sent["text"] and "hi" in sent["text"]
    answers = len(api.calls_of("sendMessage"))
    await dispatcher.feed_raw_update(bot, api.updates[-1])
    assert len(api.calls_of("sendMessage")) == answers  # the bot sees it and stays quiet

    await send(api, dispatcher, bot, BOB, f"/start gift_{made.secret}")
    assert last_text(api) == catalog.get(
        "ru", "gifts.claimed_message", amount="3.5", asset="VIBE", message="hi"
    )
    claimed = await inline(api, dispatcher, bot, ANN, "gift")
    assert claimed["results"] == []  # a claimed link is no longer offered


async def test_the_sandbox_refuses_what_telegram_refuses(
    botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    api, _ = botapi
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.types import InlineQueryResultArticle, InputTextMessageContent

    article = InlineQueryResultArticle(
        id="a", title="t", input_message_content=InputTextMessageContent(message_text="x")
    )
    try:
        await bot.answer_inline_query("404", [article])
    except TelegramBadRequest as error:
        assert "query is too old" in error.message
    else:
        raise AssertionError("an unknown inline query was answered")
    asked = asyncio.create_task(api.user_inline_query(ANN, "gift"))
    while not api.updates:
        await asyncio.sleep(0.01)
    query_id = api.updates[-1]["inline_query"]["id"]
    try:
        await bot.answer_inline_query(query_id, [article, article])
    except TelegramBadRequest as error:
        assert "RESULT_ID_DUPLICATE" in error.message
    else:
        raise AssertionError("duplicate result ids were accepted")
    assert await bot.answer_inline_query(query_id, [article])
    assert (await asked) is not None
    with pytest.raises(TelegramError, match="RESULT_ID_INVALID"):
        await api.user_chooses_inline(ANN, "missing")


async def test_a_banned_user_gets_an_empty_answer(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, db: Database
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/start")
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET banned_at = now() WHERE telegram_id = :t"), {"t": ANN["id"]}
        )
    answer = await inline(api, dispatcher, bot, ANN, "gift 10")
    assert answer["results"] == [] and "button" not in answer


async def test_share_message_prepares_the_link_for_the_mini_app(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/start")
    ann = await user_of(db, ANN["id"])
    base: Gifts = dispatcher["gifts"]
    gifts = dataclasses.replace(base, share=BotGiftShare(bot))
    packet = await gifts.create(
        creator=ann, gift_id=uuid4(), kind="packet", asset="VIBE", amount=3_000_000, shares=3
    )
    found = await gifts.open_link(ann, packet.id)
    assert found.secret == packet.secret
    t = catalog.translator("en")
    message = share_message(found, sender="@ann_i", url=gifts.app_link(found.secret or ""), t=t)
    prepared = await gifts.prepare_share(ann, message)
    saved = api.calls_of("savePreparedInlineMessage")[-1]
    assert int(saved["user_id"]) == ANN["id"]

    sent = await api.user_shares_prepared(ANN, prepared)
    assert sent["via_bot"]["id"] == api.bot_id
    assert sent["text"] == catalog.get(
        "en", "gifts.inline_packet_message", sender="@ann_i", amount="3", asset="VIBE", shares=3
    ).replace("<b>", "").replace("</b>", "")
    button = sent["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"] == f"https://t.me/{gifts.bot_username}?startapp=gift_{packet.secret}"
    with pytest.raises(TelegramError, match="MESSAGE_ID_INVALID"):
        await api.user_shares_prepared(BOB, prepared)  # prepared for Ann only

    await gifts.cancel(creator=ann, gift_id=packet.id)
    with pytest.raises(GiftNotFound):
        await gifts.open_link(ann, packet.id)  # a cancelled gift is not shared
    with pytest.raises(ShareUnavailable):
        await base.prepare_share(ann, message)  # no bot: the Mini App falls back
