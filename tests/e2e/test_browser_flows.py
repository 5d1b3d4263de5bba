"""What a person does in local mode, done in a real browser: the web chat and the Mini App.

Screenshots land in test-artifacts/screenshots/; with UPDATE_SCREENSHOTS=1 also in
docs/screenshots/ (the README shows those).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiogram import Dispatcher, F
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    WebAppInfo,
)
from aiohttp import web

from bot.client import make_bot
from sandbox.local import RunningSandbox, run_sandbox
from services.i18n import Catalog
from tests.e2e.conftest import CHROMIUM, SCREENSHOTS, LivePlatform

# Without Chromium, tests/e2e/conftest.py skips these (fails them under CI=true).
if CHROMIUM is not None:
    from playwright.async_api import Browser, FrameLocator, Locator, Page, expect

    expect.set_options(timeout=15_000)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1360, "height": 820}


def gradient_png(width: int, height: int) -> bytes:
    """A small colourful PNG, so the screenshot shows a picture, not a black square."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((142 - x // 3, 108 + y, 240 - x // 4)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def plain(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / name))


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[list[Page]]:
    contexts = [await browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    pages = [await context.new_page() for context in contexts]
    yield pages
    for context in contexts:
        await context.close()


# --- acting in the web chat -------------------------------------------------------------------


async def new_user(
    page: Page, first_name: str, username: str, user_id: int, language: str = "en"
) -> None:
    await page.get_by_test_id("new-user-toggle").click()
    form = page.get_by_test_id("user-form")
    await form.locator("input[name=first_name]").fill(first_name)
    await form.locator("input[name=username]").fill(username)
    await form.locator("input[name=id]").fill(str(user_id))
    await form.locator("select[name=language_code]").select_option(language)
    await form.locator("button[type=submit]").click()
    await expect(page.get_by_test_id("acting")).to_contain_text(f"({user_id})")


async def send(page: Page, text: str) -> None:
    await page.get_by_test_id("message-input").fill(text)
    await page.get_by_test_id("message-input").press("Enter")
    await expect(page.get_by_test_id("msg-out").filter(has_text=text).last).to_be_visible()


def from_bot(page: Page, text: str) -> Locator:
    return page.get_by_test_id("msg-in").filter(has_text=text).last


def last_from_bot(page: Page) -> Locator:
    """The text of the bot's newest message (without the time stamp)."""
    return page.get_by_test_id("msg-in").last.get_by_test_id("msg-text")


async def open_app(page: Page, button_text: str) -> FrameLocator:
    # A message arriving meanwhile (a transfer notice) re-renders the chat, and a click can
    # land on the button being replaced: press again until the Mini App shows, as a person would.
    for _ in range(4):
        await page.get_by_test_id("inline-button").filter(has_text=button_text).last.click()
        try:
            await expect(page.get_by_test_id("miniapp")).to_be_visible(timeout=4_000)
            break
        except AssertionError:
            continue
    await expect(page.get_by_test_id("miniapp")).to_be_visible()
    return page.frame_locator("[data-testid=miniapp-frame]")


# --- flows that need only the foundation ------------------------------------------------------


async def test_deep_link_start_language_and_mini_app_profile(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    page = pages[0]
    await page.goto(f"{live.webchat_url}?start=ref_E2E")
    await new_user(page, "Kate", "kate_e2e", 555_001)
    await expect(page.get_by_test_id("deep-link")).to_contain_text("?start=ref_E2E")
    await page.get_by_test_id("deep-link-start").click()
    await expect(page.get_by_test_id("msg-out").last).to_have_text(re.compile(r"^/start ref_E2E"))
    welcome = plain(catalog.get("en", "start.welcome", name="Kate")).split("\n")[0]
    await expect(from_bot(page, welcome)).to_be_visible()
    open_button = catalog.get("en", "start.open_app")
    await expect(
        page.get_by_test_id("inline-button").filter(has_text=open_button).last
    ).to_be_visible()

    # The ☰ menu lists what the bot set with setMyCommands for this user's language.
    await page.locator("#menu-button").click()
    await page.get_by_test_id("commands-menu").get_by_text("/help").click()
    await expect(page.get_by_test_id("msg-out").last).to_have_text(re.compile(r"^/help"))
    await expect(
        from_bot(page, plain(catalog.get("en", "help.text")).split("\n")[0])
    ).to_be_visible()
    await send(page, "/language")
    await (
        page.get_by_test_id("inline-button")
        .filter(has_text=catalog.get("ru", "language.name"))
        .last.click()
    )
    await expect(from_bot(page, catalog.get("ru", "language.set"))).to_be_visible()
    await screenshot(page, "webchat.png")

    # Blocking the bot: Telegram swaps the input for RESTART, which unblocks and sends /start.
    await page.get_by_test_id("block-toggle").click()
    await expect(page.get_by_test_id("restart")).to_be_visible()
    await expect(page.get_by_test_id("message-input")).to_be_hidden()
    await page.get_by_test_id("restart").click()
    await expect(page.get_by_test_id("message-input")).to_be_visible()
    await expect(page.get_by_test_id("msg-out").last).to_have_text(re.compile(r"^/start"))
    await expect(page.get_by_test_id("msg-in").filter(has_text="Kate")).to_have_count(2)

    app = await open_app(page, open_button)
    await expect(app.get_by_test_id("profile-name")).to_contain_text("Kate")
    await expect(app.get_by_test_id("profile-telegram-id")).to_have_text("555001")
    await expect(app.get_by_test_id("profile-language")).to_have_attribute("data-language", "ru")
    await expect(app.get_by_test_id("tab-profile")).to_have_text(
        catalog.get("ru", "miniapp.profile.tab")
    )
    await expect(app.get_by_test_id("profile-referral-code")).to_have_text(re.compile(r"^\S{8}$"))
    await screenshot(page, "miniapp-profile.png")

    # A t.me link pasted in the web chat is a deep link, like tapping it in Telegram.
    await page.get_by_test_id("link-input").fill("https://t.me/goodvibe_local_bot?start=ref_AGAIN")
    await page.get_by_test_id("link-input").press("Enter")
    await page.get_by_test_id("deep-link-start").click()
    await expect(page.get_by_test_id("msg-out").last).to_have_text(re.compile(r"^/start ref_AGAIN"))


async def test_mini_app_speaks_the_users_language_and_switches_it(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    page = pages[0]
    await page.goto(live.webchat_url)
    await new_user(page, "Маша", "masha_e2e", 555_301, language="ru")
    await send(page, "/start")
    app = await open_app(page, catalog.get("ru", "start.open_app"))

    def ru(key: str) -> str:
        return catalog.get("ru", key)

    await expect(app.get_by_test_id("tab-profile")).to_have_text(ru("miniapp.profile.tab"))
    await expect(app.get_by_test_id("tab-send")).to_have_text(ru("miniapp.send.tab"))
    await expect(app.get_by_text(ru("miniapp.profile.member_since"))).to_be_visible()
    await expect(app.get_by_test_id("profile-role")).to_have_text(ru("miniapp.role.user"))
    await expect(app.get_by_test_id("profile-language")).to_have_attribute("data-language", "ru")
    # Dates follow the active language through Intl, not the browser's.
    await expect(app.get_by_test_id("profile-created")).to_have_text(re.compile("[а-я]"))
    await expect(app.locator("html")).to_have_attribute("lang", "ru")
    # The app formats the bot's own Fluent messages with @fluent/bundle: the same words and
    # the same Russian plural forms (one/few/many) as the bot, numbers as Intl writes them.
    in_app = await app.locator("html").evaluate(
        """(_, counts) => counts.map((n) =>
            window.GVLi18n.t("error.too_many_decimals", { decimals: n }))""",
        [1, 2, 5, 21, 11, 1234],
    )
    assert in_app == [
        catalog.get("ru", "error.too_many_decimals", decimals=n) for n in (1, 2, 5, 21, 11, 1234)
    ]

    await app.get_by_test_id("language-en").click()
    await expect(app.get_by_test_id("profile-language")).to_have_attribute("data-language", "en")
    await expect(app.get_by_test_id("tab-profile")).to_have_text(
        catalog.get("en", "miniapp.profile.tab")
    )
    await expect(app.get_by_test_id("profile-role")).to_have_text(
        catalog.get("en", "miniapp.role.user")
    )
    await expect(app.get_by_test_id("profile-created")).not_to_have_text(re.compile("[а-я]"))
    await expect(app.locator("html")).to_have_attribute("lang", "en")

    # The choice is the user's, not the app's: the bot speaks it, and the app opened again
    # from a Russian Telegram client still switches to it.
    await send(page, "/help")
    await expect(
        from_bot(page, plain(catalog.get("en", "help.text")).split("\n")[0])
    ).to_be_visible()
    await app.locator("html").evaluate("() => { window.openedBefore = true; }")
    await page.locator("#miniapp-close").click()
    await send(page, "/start")
    app = await open_app(page, catalog.get("en", "start.open_app"))
    await expect(app.get_by_test_id("profile-language")).to_have_attribute("data-language", "en")
    await expect(app.get_by_test_id("tab-history")).to_have_text(
        catalog.get("en", "miniapp.history.tab")
    )
    assert await app.locator("html").evaluate("() => window.openedBefore === undefined")


async def test_mini_app_rejects_tampered_init_data_with_a_clear_message(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    page = pages[0]
    forged = "user=%7B%22id%22%3A1%2C%22first_name%22%3A%22Eve%22%7D&auth_date=1&hash=00"
    await page.goto(
        f"{live.api_url}/app/#tgWebAppData={quote(forged, safe='')}&tgWebAppVersion=8.0"
    )
    await expect(page.get_by_test_id("error")).to_have_text(
        catalog.get("en", "error.auth_bad_signature")
    )


async def test_mini_app_opened_from_the_web_chat_passes_ed25519_validation(
    live_ed25519: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    """The API holds no token check (INIT_DATA_VALIDATION=ed25519): only the initData
    `signature` the web chat hands the Mini App, under the sandbox's published key, gets in."""
    page = pages[0]
    await page.goto(live_ed25519.webchat_url)
    await new_user(page, "Ola", "ola_e2e", 555_401)
    await send(page, "/start")
    app = await open_app(page, catalog.get("en", "start.open_app"))
    await expect(app.get_by_test_id("profile-telegram-id")).to_have_text("555401")
    init_data = await app.locator("html").evaluate("() => Telegram.WebApp.initData")
    assert "signature=" in init_data and "hash=" in init_data
    unsafe = await app.locator("html").evaluate("() => Telegram.WebApp.initDataUnsafe")
    assert unsafe["signature"] and unsafe["user"]["id"] == 555401


# --- Stars payments and media in the web chat, against a small test bot --------------------


SHOP_PAGE = """<!doctype html><meta charset="utf-8"><script src="{shim}"></script>
<button id="buy">Buy a sticker pack</button> <b id="status">not paid</b>
<script>
  document.getElementById("buy").onclick = async () => {{
    const link = await (await fetch("link")).text();
    const show = (status) => {{ document.getElementById("status").textContent = status; }};
    Telegram.WebApp.openInvoice(link, show);
  }};
</script>"""


@contextlib.asynccontextmanager
async def shop_page(token: str, sandbox: RunningSandbox) -> AsyncIterator[str]:
    """A minimal Mini App that buys through `Telegram.WebApp.openInvoice`, as purchases will."""
    bot = make_bot(token, sandbox.api_base)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=SHOP_PAGE.format(shim=sandbox.shim_url), content_type="text/html")

    async def link(request: web.Request) -> web.Response:
        url = await bot.create_invoice_link(
            title="Sticker pack",
            description="12 stickers",
            payload="stickers-12",
            currency="XTR",
            prices=[LabeledPrice(label="Stickers", amount=12)],
        )
        return web.Response(text=url)

    app = web.Application()
    app.router.add_get("/shop/", page)
    app.router.add_get("/shop/link", link)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(address[1] for address in runner.addresses if isinstance(address, tuple))
    try:
        yield f"http://127.0.0.1:{port}/shop/"
    finally:
        await runner.cleanup()
        await bot.session.close()


@pytest.fixture
async def shop() -> AsyncIterator[tuple[RunningSandbox, list[str]]]:
    """The sandbox alone with a bot that sells a pack for Stars and sends a photo."""
    token = "7000000009:E2E-shop_token"
    charges: list[str] = []
    dp = Dispatcher()

    @dp.message(Command("buy"))
    async def buy(message: Message) -> None:
        await message.answer_invoice(
            title="Vibe pack",
            description="50 generations",
            payload="pack-50",
            currency="XTR",
            prices=[LabeledPrice(label="Vibe pack", amount=50)],
        )

    @dp.message(Command("photo"))
    async def photo(message: Message) -> None:
        await message.answer_photo(
            BufferedInputFile(gradient_png(240, 140), "art.png"), caption="<b>Your art</b>"
        )

    @dp.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @dp.message(F.successful_payment)
    async def paid(message: Message) -> None:
        assert message.successful_payment is not None
        charges.append(message.successful_payment.telegram_payment_charge_id)
        await message.answer("Thanks! Your pack is ready.")

    async with (
        run_sandbox(token, "127.0.0.1", 0, webapp_url="http://127.0.0.1:9/app/") as sandbox,
        shop_page(token, sandbox) as shop_url,
    ):
        bot = make_bot(token, sandbox.api_base)

        @dp.message(Command("shop"))
        async def shop(message: Message) -> None:
            button = InlineKeyboardButton(text="Shop", web_app=WebAppInfo(url=shop_url))
            await message.answer(
                "Our shop", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
            )

        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
        )
        try:
            yield sandbox, charges
        finally:
            await dp.stop_polling()
            await polling
            await bot.session.close()


async def test_stars_invoice_paid_and_refunded_and_photo_shown(
    shop: tuple[RunningSandbox, list[str]], pages: list[Page]
) -> None:
    sandbox, charges = shop
    page = pages[0]
    await page.goto(f"{sandbox.webchat_url}?user=100000001")
    await expect(page.get_by_test_id("acting")).to_contain_text("Ann")
    await send(page, "/buy")
    await expect(from_bot(page, "Vibe pack")).to_contain_text("⭐ 50")
    await page.get_by_test_id("inline-button").filter(has_text="Pay ⭐ 50").last.click()
    await expect(page.get_by_test_id("modal")).to_contain_text("50 generations")
    await page.get_by_test_id("pay-confirm").click()
    await expect(page.get_by_test_id("payment-done")).to_contain_text("You paid ⭐ 50")
    await expect(from_bot(page, "Thanks! Your pack is ready.")).to_be_visible()
    assert len(charges) == 1 and sandbox.server.state.payments[charges[0]].total_amount == 50

    bot = make_bot(sandbox.token, sandbox.api_base)
    try:
        assert await bot.refund_star_payment(100000001, charges[0]) is True
    finally:
        await bot.session.close()
    await expect(page.get_by_text("⭐ 50 refunded")).to_be_visible()

    await send(page, "/photo")
    image = from_bot(page, "Your art").locator("img")
    await expect(image).to_be_visible()
    width: Any = await image.evaluate("img => img.naturalWidth")
    assert width == 240
    await screenshot(page, "webchat-stars.png")

    # A Mini App pays with Telegram.WebApp.openInvoice: the client's payment sheet, then the
    # same pre_checkout_query → successful_payment round trip, then invoiceClosed in the app.
    await send(page, "/shop")
    app = await open_app(page, "Shop")
    await app.locator("#buy").click()
    await expect(page.get_by_test_id("modal")).to_contain_text("12 stickers")
    await page.get_by_test_id("pay-confirm").click()
    await expect(app.locator("#status")).to_have_text("paid")
    await expect(page.get_by_test_id("payment-done").last).to_contain_text("stickers-12")
    assert len(charges) == 2


# --- tokens: needs the ledger capability (/balance, /send, the Mini App's money views) ------


async def test_new_user_sends_tokens_and_recipient_sees_it_in_chat_and_mini_app(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    kate, leo = pages
    await leo.goto(live.webchat_url)
    await new_user(leo, "Leo", "leo_e2e", 555_102)
    await send(leo, "/start")
    await expect(leo.get_by_test_id("msg-in")).not_to_have_count(0)

    await kate.goto(f"{live.webchat_url}?start=ref_E2E")
    await new_user(kate, "Kate", "kate_e2e", 555_101)
    await kate.get_by_test_id("deep-link-start").click()
    await expect(kate.get_by_test_id("msg-in")).not_to_have_count(0)
    await send(kate, "/balance")
    await expect(last_from_bot(kate)).to_contain_text(
        re.compile(r"\b20\b.*VIBE|VIBE.*\b20\b", re.S)
    )

    await send(kate, "/send @leo_e2e 5")
    confirm = kate.locator("[data-callback^='send:']").first
    await expect(confirm).to_be_visible()
    await screenshot(kate, "webchat-send.png")
    leo_before = await leo.get_by_test_id("msg-in").count()
    await confirm.click()
    await expect(leo.get_by_test_id("msg-in")).to_have_count(leo_before + 1, timeout=30_000)
    await expect(last_from_bot(leo)).to_contain_text(re.compile(r"\b5\b"))

    app = await open_app(leo, catalog.get("en", "start.open_app"))
    await expect(app.get_by_test_id("profile-name")).to_contain_text("Leo")
    await app.get_by_test_id("tab-balances").click()
    await expect(app.get_by_test_id("available-VIBE")).to_have_text("25")
    await app.get_by_test_id("tab-history").click()
    await expect(app.get_by_test_id("tx").filter(has_text="Kate")).to_contain_text("+5 VIBE")


async def test_mini_app_sends_tokens_and_both_sides_see_balance_and_history(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    kate, leo = pages
    open_button = catalog.get("en", "start.open_app")
    for page, (name, username, user_id) in zip(
        (leo, kate), (("Leo", "leo_app", 555_202), ("Kate", "kate_app", 555_201)), strict=True
    ):
        await page.goto(live.webchat_url)
        await new_user(page, name, username, user_id)
        await send(page, "/start")
    kate_app = await open_app(kate, open_button)
    await kate_app.get_by_test_id("tab-balances").click()
    await expect(kate_app.get_by_test_id("available-VIBE")).to_have_text("20")  # welcome bonus

    await kate_app.get_by_test_id("tab-send").click()
    # The daily limit (100,000 VIBE by default) from GET /limits, under the form.
    await expect(kate_app.get_by_test_id("send-left")).to_have_text(
        catalog.get("en", "miniapp.send.left_today", amount="100,000", asset="VIBE")
    )
    await kate_app.get_by_test_id("send-recipient").fill("@leo_app")
    await kate_app.get_by_test_id("send-asset").select_option("VIBE")
    await kate_app.get_by_test_id("send-amount").fill("2.25")
    await kate_app.get_by_test_id("send-memo").fill("for the coffee")
    await kate.get_by_test_id("main-button").click()
    await expect(kate.get_by_test_id("modal")).to_contain_text("Send 2.25 VIBE to @leo_app?")
    await kate.get_by_test_id("modal-button").filter(has_text="OK").click()
    await expect(kate_app.get_by_test_id("send-result-text")).to_contain_text("2.25 VIBE to Leo")
    await expect(kate_app.get_by_test_id("send-left")).to_have_text(
        catalog.get("en", "miniapp.send.left_today", amount="99,997.75", asset="VIBE")
    )
    await screenshot(kate, "miniapp-send.png")

    # More than the balance: the person reads the error in their language, as the bot says it.
    await kate_app.get_by_test_id("send-recipient").fill("@leo_app")
    await kate_app.get_by_test_id("send-amount").fill("1000")
    await kate.get_by_test_id("main-button").click()
    await kate.get_by_test_id("modal-button").filter(has_text="OK").click()
    await expect(kate_app.get_by_test_id("error")).to_have_text(
        catalog.get("en", "error.insufficient_funds")
    )

    leo_app = await open_app(leo, open_button)
    await expect(leo_app.get_by_test_id("profile-name")).to_contain_text("Leo")
    await leo_app.get_by_test_id("tab-balances").click()
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("22.25")
    await screenshot(leo, "miniapp-balances.png")
    await leo_app.get_by_test_id("tab-history").click()
    received = leo_app.get_by_test_id("tx").filter(has_text="Kate")
    await expect(received).to_contain_text("+2.25 VIBE")
    await expect(received).to_contain_text("for the coffee")
    await screenshot(leo, "miniapp-history.png")
