"""Hostile input to the bot: a localized reply or a polite callback answer, never an exception."""

from __future__ import annotations

import logging

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import text

from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from tests.integration.test_ledger_bot import as_message, last_text
from tests.telegram import ADMIN_ID, bot, botapi, dispatcher, press, send, tg_user  # noqa: F401

ANN = tg_user(301, "Ann", username="ann")
BOB = tg_user(302, "Bob", username="bob")


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.service() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM auth.users),"
                    " (SELECT count(*) FROM tokens.p2p_requests),"
                    " (SELECT count(*) FROM tokens.transfers)"
                )
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.parametrize(
    "reference", ["\u00b2", "99999999999999999999999", str(2**63), "\u0661\u0662"]
)
async def test_send_to_unicode_digits_or_huge_number_is_explained(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
    caplog: pytest.LogCaptureFixture,
    reference: str,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/start")
    before = await counts(db)
    with caplog.at_level(logging.ERROR):
        await send(api, dispatcher, bot, ANN, f"/send {reference} 1")
    assert last_text(api) == catalog.get("en", "error.invalid_recipient", recipient=reference)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await counts(db) == before


async def test_send_memo_with_nul_is_explained(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/start")
    before = await counts(db)
    await send(api, dispatcher, bot, ANN, "/send @bob 1 for\x00you")
    assert last_text(api) == catalog.get("en", "error.invalid_memo")
    assert await counts(db) == before


@pytest.mark.parametrize(
    "data", ["send:ok:zz", "send:no:not-hex", "send:ok:", "send:maybe:" + "0" * 32, "lang:xx", "x"]
)
async def test_forged_callback_is_answered_politely(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    catalog: Catalog,
    caplog: pytest.LogCaptureFixture,
    data: str,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/start")
    prompt = api.calls_of("sendMessage")[-1]
    with caplog.at_level(logging.ERROR):
        await press(api, dispatcher, bot, ANN, as_message(prompt), data)
    [answer] = api.calls_of("answerCallbackQuery")
    assert answer["text"] == catalog.get("en", "error.unknown_button")
    assert not answer.get("show_alert")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_unknown_but_well_formed_request_is_a_domain_answer(
    botapi: tuple[BotApiServer, str], bot: Bot, dispatcher: Dispatcher, catalog: Catalog
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, ANN, "/start")
    prompt = api.calls_of("sendMessage")[-1]
    await press(api, dispatcher, bot, ANN, as_message(prompt), "send:ok:" + "ab" * 16)
    [answer] = api.calls_of("answerCallbackQuery")
    assert answer["text"] == catalog.get("en", "error.request_not_found")


@pytest.mark.parametrize(
    "user",
    [tg_user(303, "A\x00nn"), tg_user(303, "Ann", last_name="\x1b[31m"), tg_user(0, "Zero")],
    ids=["nul", "escape", "id0"],
)
async def test_profile_we_refuse_gets_a_reply_and_no_row(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
    user: dict[str, object],
) -> None:
    api, _ = botapi
    before = await counts(db)
    await send(api, dispatcher, bot, user, "/start")
    assert last_text(api) == catalog.get("en", "error.invalid_profile")
    assert await counts(db) == before


async def test_grant_reason_with_nul_is_explained(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, tg_user(ADMIN_ID, "Root"), "/grant @bob 5 VIBE gift\x00")
    assert last_text(api) == catalog.get("en", "error.invalid_memo")
    async with db.service() as session:
        grants = await session.scalar(
            text("SELECT count(*) FROM tokens.transfers WHERE code IN ('grant', 'revoke')")
        )
    assert grants == 0


async def test_send_memo_is_normalised_to_nfc_at_the_edge(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
) -> None:
    api, _ = botapi
    await send(api, dispatcher, bot, BOB, "/start")
    await send(api, dispatcher, bot, ANN, "/start")
    await send(api, dispatcher, bot, ANN, "/send @bob 1 Cafe\u0301")
    async with db.service() as session:
        memo = await session.scalar(text("SELECT memo FROM tokens.p2p_requests"))
    assert memo == "Caf\u00e9"
