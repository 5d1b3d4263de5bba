"""The Mini App's Market view in a real browser: one user makes an offer, another takes part of
it, the maker cancels the rest; balances read back through the API's own views."""

from __future__ import annotations

from playwright.async_api import Page, expect
from sqlalchemy import text

from db.database import create_database
from db.urls import app_url_from_owner
from services.i18n import Catalog
from tests.e2e.conftest import LivePlatform
from tests.e2e.test_browser_flows import from_bot, new_user, open_app, pages, screenshot, send
from tests.ledger_helpers import fund

__all__ = ["pages"]


async def _fund_usdt(owner_url: str, telegram_id: int, units: int) -> None:
    db = create_database(app_url_from_owner(owner_url), pool_size=2)
    try:
        async with db.service() as session:
            user_id = await session.scalar(
                text("SELECT id FROM auth.users WHERE telegram_id = :t"), {"t": telegram_id}
            )
        await fund(db, user_id, units, "USDT")
    finally:
        await db.dispose()


async def _ok(page: Page) -> None:
    await page.get_by_test_id("modal-button").filter(has_text="OK").click()


async def test_mini_app_market_offer_fill_and_cancel(
    live: LivePlatform, owner_url: str, pages: list[Page], catalog: Catalog
) -> None:
    maya, nick = pages
    for page, (name, username, user_id) in zip(
        (maya, nick), (("Maya", "maya_mkt", 555_401), ("Nick", "nick_mkt", 555_402)), strict=True
    ):
        await page.goto(live.webchat_url)
        await new_user(page, name, username, user_id)
        await send(page, "/start")
        await expect(from_bot(page, "")).to_be_visible()
    await _fund_usdt(owner_url, 555_402, 10_000_000)  # 10 USDT for Nick
    open_button = catalog.get("en", "start.open_app")

    maya_app = await open_app(maya, open_button)
    await maya_app.get_by_test_id("tab-market").click()
    await maya_app.get_by_test_id("offer-sell-asset").select_option("VIBE")
    await maya_app.get_by_test_id("offer-sell-amount").fill("5")
    await maya_app.get_by_test_id("offer-buy-asset").select_option("USDT")
    await maya_app.get_by_test_id("offer-buy-amount").fill("2")
    await maya_app.get_by_test_id("offer-submit").click()
    await expect(maya.get_by_test_id("modal")).to_contain_text("Offer 5 VIBE for 2 USDT?")
    await _ok(maya)
    await expect(maya_app.get_by_test_id("market-result-text")).to_have_text(
        catalog.get(
            "en",
            "miniapp.market.offer_open",
            sell_amount="5",
            sell_asset="VIBE",
            buy_amount="2",
            buy_asset="USDT",
        )
    )
    await expect(maya_app.get_by_test_id("book-asks")).to_contain_text("yours")

    nick_app = await open_app(nick, open_button)
    await nick_app.get_by_test_id("tab-market").click()
    row = nick_app.get_by_test_id("offer-row").filter(has_text="0.4 USDT")
    await expect(row).to_contain_text("5 VIBE left")
    await row.get_by_test_id("fill-amount").fill("2")
    await row.get_by_test_id("fill-button").click()
    await expect(nick.get_by_test_id("modal")).to_contain_text("Take 2 VIBE for 0.8 USDT?")
    await _ok(nick)
    # The fee, 0.3% of 2 VIBE, comes out of what Nick receives.
    await expect(nick_app.get_by_test_id("market-result-text")).to_have_text(
        catalog.get(
            "en",
            "miniapp.market.filled",
            received="1.994",
            asset="VIBE",
            paid="0.8",
            pay_asset="USDT",
            fee="0.006",
        )
    )
    await expect(nick_app.get_by_test_id("offer-row")).to_contain_text("3 VIBE left")
    await screenshot(nick, "miniapp-market.png")
    await nick_app.get_by_test_id("tab-balances").click()
    await expect(nick_app.get_by_test_id("available-VIBE")).to_have_text("21.994")
    await expect(nick_app.get_by_test_id("available-USDT")).to_have_text("9.2")

    # Maya redraws her view and cancels what is left: 3 VIBE come back.
    await maya_app.get_by_test_id("tab-balances").click()
    await maya_app.get_by_test_id("tab-market").click()
    await maya_app.get_by_test_id("cancel-button").click()
    await expect(maya_app.get_by_test_id("market-result-text")).to_have_text(
        catalog.get("en", "miniapp.market.cancelled", amount="3", asset="VIBE")
    )
    await maya_app.get_by_test_id("tab-balances").click()
    await expect(maya_app.get_by_test_id("available-VIBE")).to_have_text("18")
    await expect(maya_app.get_by_test_id("available-USDT")).to_have_text("0.8")
