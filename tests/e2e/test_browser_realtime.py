"""The reference Mini App live: a received transfer shows without a reload, and after the
socket drops, a transfer made meanwhile arrives once when it reconnects and resumes."""

from __future__ import annotations

from playwright.async_api import Frame, Page, expect
from sqlalchemy import text

from db.database import create_database
from db.urls import app_url_from_owner
from services.announcements.service import Draft, confirm, create
from services.i18n import Catalog
from tests.e2e.conftest import LivePlatform
from tests.e2e.test_browser_flows import from_bot, new_user, open_app, pages, send

__all__ = ["pages"]


def _app_frame(page: Page) -> Frame:
    return next(frame for frame in page.frames if "/app/" in frame.url)


async def _confirmed_send(kate: Page, leo: Page, text: str) -> None:
    """Kate sends and confirms; returns once Leo's chat got the notice (sent after commit)."""
    leo_before = await leo.get_by_test_id("msg-in").count()
    await send(kate, text)
    await kate.locator("[data-callback^='send:']").first.click()
    await expect(leo.get_by_test_id("msg-in")).to_have_count(leo_before + 1, timeout=30_000)


async def test_mini_app_shows_a_transfer_live_and_resumes_after_a_drop(
    live: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    kate, leo = pages
    for page, (name, username, user_id) in zip(
        (leo, kate), (("Leo", "leo_live", 555_302), ("Kate", "kate_live", 555_301)), strict=True
    ):
        await page.goto(live.webchat_url)
        await new_user(page, name, username, user_id)
        await send(page, "/start")
        await expect(from_bot(page, "")).to_be_visible()
    leo_app = await open_app(leo, catalog.get("en", "start.open_app"))
    await leo_app.get_by_test_id("tab-balances").click()
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("20")
    await expect(leo_app.locator("html[data-live=live]")).to_have_count(1)

    await _confirmed_send(kate, leo, "/send @leo_live 5")
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("25")

    frame = _app_frame(leo)
    await frame.evaluate("GVL.live.drop()")
    await expect(leo_app.locator("html[data-live=offline]")).to_have_count(1)
    await _confirmed_send(kate, leo, "/send @leo_live 3")
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("25")  # offline
    await frame.evaluate("GVL.live.reconnect()")
    await expect(leo_app.get_by_test_id("available-VIBE")).to_have_text("28")
    received = await frame.evaluate("GVL.live.received")
    # Each transfer: its `transfer` event and Leo's new `balance`, each once, in id order.
    assert len(received) == 4 and received == sorted(set(received)), received

    # An admin's announcement, confirmed: a banner at once, formatting kept, script dropped.
    assert live.settings.database_url is not None
    db = create_database(app_url_from_owner(live.settings.database_url), pool_size=1)
    try:
        async with db.service() as session:
            admin = await session.scalar(
                text("SELECT id FROM auth.users WHERE telegram_id = 555301")
            )
            draft = Draft(
                "<b>Big</b> news<script>window.pwned = 1</script>",
                button_text="Read",
                button_url="https://example.test/news",
            )
            announcement, _ = await create(
                session, source="browser", created_by=admin, chat_id=555_301, draft=draft
            )
            await confirm(session, announcement)
    finally:
        await db.dispose()
    banner = leo_app.get_by_test_id("announcement")
    await expect(banner).to_contain_text("Big news")
    await expect(banner.locator(".tg-b")).to_have_text("Big")
    await expect(banner.locator("a.announcement-button")).to_have_attribute(
        "href", "https://example.test/news"
    )
    assert await frame.evaluate("window.pwned === undefined")
    await leo_app.get_by_test_id("announcement-close").click()
    await expect(banner).to_have_count(0)
