"""A gift link made in the Mini App and claimed by another person from the web chat."""

from __future__ import annotations

import re
from typing import Any

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


async def test_a_gift_shared_through_inline_mode_is_claimed_in_the_mini_app(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    """Kate makes a link in the Mini App and shares it through inline mode; Leo opens the
    message's Claim button (t.me/<bot>?startapp=gift_…) and claims in the Mini App."""
    kate, leo = pages
    for page, (name, username, user_id) in zip(
        (leo, kate), (("Leo", "leo_share", 555_412), ("Kate", "kate_share", 555_411)), strict=True
    ):
        await page.goto(live.webchat_url)
        await new_user(page, name, username, user_id)
        await send(page, "/start")
        await expect(from_bot(page, "")).to_be_visible()

    # Typing a bad amount after @bot gets a clear answer and makes nothing.
    status = await kate.locator("#bot-status").inner_text()  # "@<bot> · bot"
    bot_name = status.split()[0].lstrip("@")
    await kate.get_by_test_id("message-input").fill(f"@{bot_name} gift ten")
    await expect(kate.get_by_test_id("inline-switch")).to_have_text(
        catalog.get("en", "gifts.inline_bad_amount", asset="VIBE")
    )
    await kate.get_by_test_id("message-input").fill("")

    kate_app = await open_app(kate, catalog.get("en", "start.open_app"))
    await kate_app.get_by_test_id("tab-gifts").click()
    await kate_app.get_by_test_id("gift-amount").fill("2.5")
    await kate_app.get_by_test_id("gift-message").fill("with love")
    await kate.get_by_test_id("main-button").click()
    await expect(kate_app.get_by_test_id("gift-app-link")).to_have_value(
        re.compile(r"^https://t\.me/\w+\?startapp=gift_[\w-]{32}$")
    )
    # shareMessage: the API has the bot prepare the message; Kate confirms where it goes.
    await kate_app.get_by_test_id("gift-share").click()
    await kate.get_by_test_id("share-confirm").click()
    await expect(kate_app.get_by_test_id("gift-copied")).to_have_text(
        catalog.get("en", "miniapp.gift.shared")
    )
    shared = kate.get_by_test_id("msg-out").filter(has_text="2.5 VIBE").last
    await expect(shared).to_contain_text(f"via @{bot_name}")
    await expect(shared).to_contain_text("with love")

    # A client without shareMessage: switchInlineQuery. The app closes, "@bot gift 2.5 VIBE"
    # waits in the input, and the bot answers with the link as a ready message.
    await (
        kate.frame_locator("[data-testid=miniapp-frame]")
        .locator("body")
        .evaluate("() => { window.Telegram.WebApp.shareMessage = undefined; }")
    )
    await kate_app.get_by_test_id("gift-share").click()
    await expect(kate.get_by_test_id("miniapp")).to_be_hidden()
    await expect(kate.get_by_test_id("message-input")).to_have_value(f"@{bot_name} gift 2.5 VIBE")
    result = kate.get_by_test_id("inline-result")
    await expect(result).to_have_count(1)
    await expect(result).to_contain_text(
        catalog.get("en", "gifts.inline_link_title", amount="2.5", asset="VIBE")
    )
    await screenshot(kate, "webchat-gift-inline.png")
    await result.click()
    await expect(kate.get_by_test_id("msg-out").filter(has_text="2.5 VIBE")).to_have_count(2)

    # The Claim button is a startapp link: Kate's client shows where it leads.
    claim_text = catalog.get("en", "gifts.inline_claim")
    await kate.get_by_test_id("inline-button").filter(has_text=claim_text).last.click()
    await expect(kate.get_by_test_id("deep-link")).to_contain_text("startapp=gift_")
    opened = await kate.get_by_test_id("deep-link").inner_text()
    secret = re.search(r"startapp=gift_([\w-]{32})", opened)
    assert secret is not None
    app_link = f"https://t.me/{bot_name}?startapp=gift_{secret[1]}"

    async def open_claim(page: Page) -> Any:
        await page.get_by_test_id("link-input").fill(app_link)
        await page.get_by_test_id("link-input").press("Enter")
        await page.get_by_test_id("deep-link-start").click()
        await expect(page.get_by_test_id("miniapp")).to_be_visible()
        return page.frame_locator("[data-testid=miniapp-frame]")

    # Her own link: the claim view says so, in words.
    own = await open_claim(kate)
    await expect(own.get_by_test_id("gift-claim-error")).to_have_text(
        catalog.get("en", "error.own_gift")
    )

    leo_app = await open_claim(leo)
    await expect(leo_app.get_by_test_id("gift-claim-sender")).to_have_text(
        catalog.get("en", "miniapp.gift.claim_from", sender="@kate_share")
    )
    await expect(leo_app.get_by_test_id("gift-claim-amount")).to_have_text("2.5 VIBE")
    await expect(leo_app.get_by_test_id("gift-claim-message")).to_contain_text("with love")
    await screenshot(leo, "miniapp-gift-claim.png")
    await leo_app.get_by_test_id("gift-claim-button").click()
    await expect(leo_app.get_by_test_id("gift-claimed")).to_have_text(
        catalog.get("en", "miniapp.gift.claimed", amount="2.5", asset="VIBE")
    )
    await leo_app.get_by_test_id("tab-balances").click()
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("22.5")

    again = await open_claim(leo)
    await expect(again.get_by_test_id("gift-claim-error")).to_have_text(
        catalog.get("en", "error.gift_unavailable")
    )
