"""The market through its doors: `/api/v1/market/...` and the bot's /market, /offer, /offers."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from uuid import uuid4

from aiogram import Bot, Dispatcher
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.ledger.amounts import format_amount, parse_amount
from tests.api import tma, web_user
from tests.ledger_helpers import available, fund, make_user
from tests.telegram import press, send, tg_user

ANN, BOB = web_user(701, "Ann"), web_user(702, "Bob")
OFFER = {
    "sell_asset": "VIBE",
    "sell_amount": "10000000",
    "buy_asset": "USDT",
    "buy_amount": "5000000",
}


async def post(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], who: dict[str, Any], key: str
) -> Any:
    return await client.post(path, json=body, headers=tma(who) | {"Idempotency-Key": key})


async def test_offer_book_fill_and_cancel_over_the_api(
    api: TestClient[Any, Any], db: Database
) -> None:
    ann, bob = await make_user(db, "ann", 701), await make_user(db, "bob", 702)
    await fund(db, ann.id, 100_000_000, "VIBE")
    await fund(db, bob.id, 100_000_000, "USDT")

    assert (await api.post("/api/v1/market/offers", json=OFFER, headers=tma(ANN))).status == 422
    created = await post(api, "/api/v1/market/offers", OFFER, ANN, "o-1")
    assert created.status == 201, await created.text()
    offer = (await created.json())["data"]
    again = await post(api, "/api/v1/market/offers", OFFER, ANN, "o-1")
    assert (await again.json())["data"] == offer
    other = await post(api, "/api/v1/market/offers", {**OFFER, "buy_amount": "1"}, ANN, "o-1")
    assert (other.status, (await other.json())["error"]["code"]) == (409, "idempotency_key_reused")
    assert await available(db, ann.id, "VIBE") == 90_000_000

    book = await (await api.get("/api/v1/market/vibe/USDT", headers=tma(BOB))).json()
    assert [(o["id"], o["mine"], o["remaining"]) for o in book["data"]] == [
        (offer["id"], False, "10000000")
    ]
    assert book["pagination"]["has_more"] is False
    assert (await (await api.get("/api/v1/market/USDT/VIBE", headers=tma(BOB))).json())[
        "data"
    ] == []

    fill_path = f"/api/v1/market/offers/{offer['id']}/fill"
    fills = await asyncio.gather(
        *(post(api, fill_path, {"amount": "4000000"}, BOB, "f-1") for _ in range(8))
    )
    bodies = [await r.json() for r in fills]
    assert {r.status for r in fills} == {201}
    assert all(b["data"] == bodies[0]["data"] for b in bodies)
    fill = bodies[0]["data"]
    # 4 VIBE at 0.5 USDT each; the default fee 0.3% of 4 VIBE.
    assert (fill["paid"], fill["fee"], fill["received"]) == ("2000000", "12000", "3988000")
    assert (fill["offer_remaining"], fill["offer_status"]) == ("6000000", "open")
    assert await available(db, bob.id, "USDT") == 98_000_000

    mine = await post(api, fill_path, {"amount": "1"}, ANN, "f-2")
    assert (mine.status, (await mine.json())["error"]["code"]) == (422, "self_trade")
    too_much = await post(api, fill_path, {"amount": "6000001"}, BOB, "f-3")
    assert (too_much.status, (await too_much.json())["error"]["code"]) == (
        409,
        "fill_exceeds_offer",
    )

    cancelled = await api.delete(f"/api/v1/market/offers/{offer['id']}", headers=tma(ANN))
    assert cancelled.status == 200
    assert (await cancelled.json())["data"]["status"] == "cancelled"
    assert await available(db, ann.id, "VIBE") == 96_000_000
    twice = await api.delete(f"/api/v1/market/offers/{offer['id']}", headers=tma(ANN))
    assert (twice.status, (await twice.json())["error"]["code"]) == (409, "offer_not_open")

    my = await (await api.get("/api/v1/market/my?status=cancelled", headers=tma(ANN))).json()
    assert [(o["id"], o["received"], o["fills"]) for o in my["data"]] == [
        (offer["id"], "2000000", 1)
    ]


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_api_refusals_are_specific_4xx(api: TestClient[Any, Any], db: Database) -> None:
    await make_user(db, "ann", 701)
    cases = [
        (await api.get("/api/v1/market/NOPE/USDT", headers=tma(ANN)), 404, "asset_not_found"),
        (
            await api.get("/api/v1/market/VIBE/USDT?cursor=%%%", headers=tma(ANN)),
            422,
            "invalid_cursor",
        ),
        (
            await api.get(
                "/api/v1/market/my?cursor=" + b64(f"0001-01-01T00:00:00+14:00|{uuid4()}"),
                headers=tma(ANN),
            ),
            422,
            "invalid_cursor",
        ),
        (
            await api.get(
                "/api/v1/market/my?cursor=" + b64(f"9999-12-31T23:59:59-14:00|{uuid4()}"),
                headers=tma(ANN),
            ),
            422,
            "invalid_cursor",
        ),
        (
            await api.get(
                "/api/v1/market/VIBE/USDT?cursor=" + b64(f"1|9999-12-31T23:59:59-14:00|{uuid4()}"),
                headers=tma(ANN),
            ),
            422,
            "invalid_cursor",
        ),
        (
            await api.get(
                "/api/v1/market/my?cursor="
                # A fullwidth digit one: int() would take it, the cursor must not.
                + b64(f"2026-01-01T00:00:00+00:00|{chr(0xFF11)}{str(uuid4())[1:]}"),
                headers=tma(ANN),
            ),
            422,
            "invalid_cursor",
        ),
        (
            await api.delete("/api/v1/market/offers/not-a-uuid", headers=tma(ANN)),
            404,
            "offer_not_found",
        ),
        (
            await post(api, "/api/v1/market/offers/x/fill", {"amount": "1"}, ANN, "k1"),
            404,
            "offer_not_found",
        ),
        (
            await post(api, "/api/v1/market/offers", {**OFFER, "buy_asset": "VIBE"}, ANN, "k2"),
            422,
            "market_same_asset",
        ),
        (
            await post(api, "/api/v1/market/offers", {**OFFER, "sell_amount": "0"}, ANN, "k3"),
            422,
            "invalid_amount",
        ),
        (
            await post(api, "/api/v1/market/offers", {**OFFER, "min_fill": "10000001"}, ANN, "k4"),
            422,
            "invalid_min_fill",
        ),
        (
            await post(
                api, "/api/v1/market/offers", {**OFFER, "sell_amount": "10000000000000"}, ANN, "k5"
            ),
            409,
            "insufficient_funds",
        ),
    ]
    for response, status, code in cases:
        assert (response.status, (await response.json())["error"]["code"]) == (status, code)


ANN_TG, BOB_TG = tg_user(711, "Ann", username="ann711"), tg_user(712, "Bob", username="bob712")


def last_text(api: BotApiServer) -> str:
    return str(api.calls_of("sendMessage")[-1]["text"])


async def test_bot_offer_market_and_cancel(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    tg, _ = botapi
    await send(tg, dispatcher, bot, ANN_TG, "/offer 5 VIBE 2.5 USDT")
    assert last_text(tg) == catalog.get(
        "en",
        "market.offer_created",
        sell_amount="5",
        sell_asset="VIBE",
        buy_amount="2.5",
        buy_asset="USDT",
    )
    await send(tg, dispatcher, bot, ANN_TG, "/offer 5 VIBE")
    assert last_text(tg) == catalog.get("en", "market.offer_usage")
    await send(tg, dispatcher, bot, ANN_TG, "/offer 500 VIBE 1 USDT")
    assert last_text(tg) == catalog.get("en", "error.insufficient_funds")

    await send(tg, dispatcher, bot, BOB_TG, "/market VIBE USDT")
    assert last_text(tg) == "\n".join(
        [
            catalog.get("en", "market.book_title", base="VIBE", quote="USDT"),
            "",
            catalog.get("en", "market.asks_title", base="VIBE"),
            catalog.get("en", "market.book_line", price="0.5", amount="5", asset="VIBE"),
            "",
            catalog.get("en", "market.bids_title", base="VIBE"),
            catalog.get("en", "market.side_empty"),
        ]
    )
    await send(tg, dispatcher, bot, BOB_TG, "/market")
    assert catalog.get("en", "market.pair_line", sell="VIBE", buy="USDT", count=1) in last_text(tg)

    await send(tg, dispatcher, bot, ANN_TG, "/offers")
    listing = tg.calls_of("sendMessage")[-1]
    [[button]] = listing["reply_markup"]["inline_keyboard"]
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 711, "type": "private"},
        "text": listing["text"],
    }
    await press(tg, dispatcher, bot, ANN_TG, message, button["callback_data"])
    assert last_text(tg) == catalog.get("en", "market.cancelled", amount="5", asset="VIBE")
    await press(tg, dispatcher, bot, ANN_TG, message, button["callback_data"])
    answers = tg.calls_of("answerCallbackQuery")
    assert answers[-1]["text"] == catalog.get("en", "error.offer_not_open")
    await send(tg, dispatcher, bot, ANN_TG, "/offers")
    assert last_text(tg) == catalog.get("en", "market.offers_none")


async def test_one_offer_reads_back_by_id(api: TestClient[Any, Any], db: Database) -> None:
    ann = await make_user(db, "ann", 701)
    await fund(db, ann.id, 100_000_000, "VIBE")
    offer = (await (await post(api, "/api/v1/market/offers", OFFER, ANN, "g-1")).json())["data"]
    seen = await (await api.get(f"/api/v1/market/offers/{offer['id']}", headers=tma(BOB))).json()
    assert {**seen["data"], "mine": True} == offer
    gone = await api.get(f"/api/v1/market/offers/{uuid4()}", headers=tma(BOB))
    assert (gone.status, (await gone.json())["error"]["code"]) == (404, "offer_not_found")


CAT_TG, DAN_TG = tg_user(721, "Cat", username="cat721"), tg_user(722, "Dan", username="dan722")


def confirmation(catalog: Catalog, offer_id: str, amount: str, paid: str, fee: str) -> str:
    received = format_amount(parse_amount(amount, 6) - parse_amount(fee, 6), 6)
    return catalog.get(
        "en",
        "market.fill_confirm",
        amount=amount,
        sell_asset="VIBE",
        paid=paid,
        buy_asset="USDT",
        received=received,
        fee=fee,
        offer_id=offer_id,
    )


async def test_bot_takes_an_offer_from_the_book_or_by_fill_after_a_confirmation(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    tg, _ = botapi
    dan = await make_user(db, "dan722", 722)
    await fund(db, dan.id, 10_000_000, "USDT")
    dan_vibe = await available(db, dan.id, "VIBE")
    await send(tg, dispatcher, bot, CAT_TG, "/offer 5 VIBE 2.5 USDT")
    async with db.service() as session:
        offer_id = str(await session.scalar(text("SELECT id FROM market.offers")))
    await send(tg, dispatcher, bot, CAT_TG, "/market VIBE USDT")
    assert tg.calls_of("sendMessage")[-1].get("reply_markup") is None  # no Take on your own

    # /fill with an amount: the terms first (fee 0.3% of what Dan receives), then the fill.
    await send(tg, dispatcher, bot, DAN_TG, f"/fill {offer_id} 2")
    asked = tg.calls_of("sendMessage")[-1]
    assert asked["text"] == confirmation(catalog, offer_id, "2", "1", "0.006")
    ok, no = asked["reply_markup"]["inline_keyboard"][0]
    assert (ok["text"], no["text"]) == (
        catalog.get("en", "market.fill_confirm_button"),
        catalog.get("en", "market.fill_cancel_button"),
    )
    message = {"message_id": 41, "date": 0, "chat": {"id": 722, "type": "private"}, "text": "?"}
    await press(tg, dispatcher, bot, DAN_TG, message, ok["callback_data"])
    filled = catalog.get(
        "en",
        "market.filled",
        received="1.994",
        sell_asset="VIBE",
        paid="1",
        buy_asset="USDT",
        fee="0.006",
        remaining="3",
    )
    assert last_text(tg) == filled
    assert int(tg.calls_of("editMessageReplyMarkup")[-1]["message_id"]) == 41
    # The same confirmation pressed again answers the same fill, and moves nothing twice.
    await press(tg, dispatcher, bot, DAN_TG, message, ok["callback_data"])
    assert last_text(tg) == filled
    assert await available(db, dan.id, "VIBE") == dan_vibe + 1_994_000
    assert await available(db, dan.id, "USDT") == 9_000_000

    # Cancel on a confirmation takes nothing.
    await send(tg, dispatcher, bot, DAN_TG, f"/fill {offer_id} 1")
    _, no = tg.calls_of("sendMessage")[-1]["reply_markup"]["inline_keyboard"][0]
    await press(tg, dispatcher, bot, DAN_TG, {**message, "message_id": 42}, no["callback_data"])
    assert tg.calls_of("answerCallbackQuery")[-1]["text"] == catalog.get(
        "en", "market.fill_dropped"
    )

    # Refusals are the fill's own, localized.
    for who, text_, key in (
        (DAN_TG, "/fill", "market.fill_usage"),
        (DAN_TG, "/fill not-an-id 1", "error.offer_not_found"),
        (DAN_TG, f"/fill {offer_id} 4", "error.fill_exceeds_offer"),
        (CAT_TG, f"/fill {offer_id} 1", "error.self_trade"),
    ):
        await send(tg, dispatcher, bot, who, text_)
        assert last_text(tg) == catalog.get("en", key), text_

    # The book's Take button: the rest of the offer, confirmed the same way.
    await send(tg, dispatcher, bot, DAN_TG, "/market VIBE USDT")
    book = tg.calls_of("sendMessage")[-1]
    [[take]] = book["reply_markup"]["inline_keyboard"]
    assert take["text"] == catalog.get(
        "en", "market.take_button", amount="3", asset="VIBE", pay_asset="USDT"
    )
    await press(tg, dispatcher, bot, DAN_TG, {**message, "message_id": 43}, take["callback_data"])
    asked = tg.calls_of("sendMessage")[-1]
    assert asked["text"] == confirmation(catalog, offer_id, "3", "1.5", "0.009")
    ok, _ = asked["reply_markup"]["inline_keyboard"][0]
    await press(tg, dispatcher, bot, DAN_TG, {**message, "message_id": 44}, ok["callback_data"])
    assert last_text(tg) == catalog.get(
        "en",
        "market.filled",
        received="2.991",
        sell_asset="VIBE",
        paid="1.5",
        buy_asset="USDT",
        fee="0.009",
        remaining="0",
    )
    assert await available(db, dan.id, "USDT") == 7_500_000
    async with db.service() as session:
        status = await session.scalar(text("SELECT status FROM market.offers"))
    assert status == "filled"
    # A later press of a stale Take answers that the offer is closed.
    await press(tg, dispatcher, bot, DAN_TG, {**message, "message_id": 45}, take["callback_data"])
    assert tg.calls_of("answerCallbackQuery")[-1]["text"] == catalog.get(
        "en", "error.offer_not_open"
    )
