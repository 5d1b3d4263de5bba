"""A gift link made in the Mini App and claimed by another person from the web chat."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from services.i18n import Catalog
from tests.e2e.conftest import LivePlatform
from tests.e2e.test_browser_flows import from_bot, new_user, open_app, pages, screenshot, send

__all__ = ["pages"]


async def test_gift_link_made_in_the_mini_app_is_claimed_once_from_the_web_chat(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    kate, leo = pages
    for page, (name, username, user_id) in zip(
        (leo, kate), (("Leo", "leo_gift", 555_402), ("Kate", "kate_gift", 555_401)), strict=True
    ):
        await page.goto(live.webchat_url)
        await new_user(page, name, username, user_id)
        await send(page, "/start")
        await expect(from_bot(page, "")).to_be_visible()

    kate_app = await open_app(kate, catalog.get("en", "start.open_app"))
    await kate_app.get_by_test_id("tab-gifts").click()
    await kate_app.get_by_test_id("gift-kind").select_option("link")
    await kate_app.get_by_test_id("gift-amount").fill("3.5")
    await kate_app.get_by_test_id("gift-message").fill("for you")
    await kate.get_by_test_id("main-button").click()
    link_box = kate_app.get_by_test_id("gift-link")
    await expect(link_box).to_have_value(re.compile(r"^https://t\.me/\w+\?start=gift_[\w-]{32}$"))
    link = await link_box.input_value()
    await expect(kate_app.get_by_test_id("gift-row").first).to_contain_text("3.5 VIBE")
    await screenshot(kate, "miniapp-gift.png")
    secret = link.split("gift_", 1)[1]

    await send(leo, f"/start gift_{secret}")
    claimed = catalog.get("en", "gifts.claimed_message", amount="3.5", asset="VIBE", message="x")
    await expect(from_bot(leo, claimed.split("<b>")[0].strip())).to_contain_text("3.5 VIBE")
    await send(leo, f"/start gift_{secret}")
    await expect(from_bot(leo, catalog.get("en", "error.gift_unavailable"))).to_be_visible()

    leo_app = await open_app(leo, catalog.get("en", "start.open_app"))
    await leo_app.get_by_test_id("tab-balances").click()
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("23.5")
    await kate_app.get_by_test_id("tab-balances").click()
    await expect(kate_app.get_by_test_id("available-VIBE")).to_have_text("16.5")
