"""Buying VIBE with Stars and inviting friends, in a real browser against local mode: the web
chat pays the Mini App's invoice, the balance updates, the referrer's Invite view shows it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from services.i18n import Catalog
from tests.e2e.conftest import CHROMIUM
from tests.e2e.test_browser_flows import VIEWPORT, new_user, open_app, screenshot, send
from tests.localmode import LivePlatform

if CHROMIUM is not None:
    from playwright.async_api import Browser, Page, expect

    expect.set_options(timeout=15_000)


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[list[Page]]:
    contexts = [await browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    pages = [await context.new_page() for context in contexts]
    yield pages
    for context in contexts:
        await context.close()


async def test_mini_app_buys_vibe_with_stars_and_the_referrer_sees_it_in_invite(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    kate, leo = pages
    open_button = catalog.get("en", "start.open_app")
    await kate.goto(live.webchat_url)
    await new_user(kate, "Kate", "kate_buy", 556_001)
    await send(kate, "/start")
    kate_app = await open_app(kate, open_button)
    await kate_app.get_by_test_id("tab-invite").click()
    link = kate_app.get_by_test_id("invite-link")
    await expect(link).to_have_text(re.compile(r"^https://t\.me/\w+\?start=ref_[\w-]+$"))
    code = (await link.inner_text()).rsplit("ref_", 1)[1]
    await expect(kate_app.get_by_test_id("invite-levels").locator("tbody tr")).to_have_count(8)
    await expect(kate_app.get_by_test_id("level-1-referees")).to_have_text("0")

    await leo.goto(f"{live.webchat_url}?start=ref_{code}")
    await new_user(leo, "Leo", "leo_buy", 556_002)
    await leo.get_by_test_id("deep-link-start").click()
    joined = catalog.get("en", "referrals.link_bound", name="Kate")
    await expect(leo.get_by_test_id("msg-in").filter(has_text=joined)).to_be_visible()
    leo_app = await open_app(leo, open_button)
    await leo_app.get_by_test_id("tab-buy").click()
    await expect(leo_app.get_by_test_id("buy-balance")).to_have_text("20")
    await leo_app.get_by_test_id("buy-stars_50").click()
    await expect(leo.get_by_test_id("modal")).to_contain_text("100 VIBE")
    await leo.get_by_test_id("pay-confirm").click()
    await expect(leo_app.get_by_test_id("buy-status")).to_have_text(
        catalog.get("en", "miniapp.buy.status_paid")
    )
    await expect(leo_app.get_by_test_id("buy-balance")).to_have_text("120")
    await screenshot(leo, "miniapp-buy.png")

    await kate_app.get_by_test_id("tab-balances").click()
    await kate_app.get_by_test_id("tab-invite").click()
    await expect(kate_app.get_by_test_id("level-1-referees")).to_have_text("1")
    await expect(kate_app.get_by_test_id("level-1")).to_contain_text("10")
    await screenshot(kate, "miniapp-invite.png")
