"""The Mini App's Create view in a real browser, in local mode: an image made by the local
provider shows in the app with its progress, lands in the gallery, and arrives in the chat.

The view follows the job by the live socket's `generation` events (no polling while it is
live), and by polling once the socket is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.i18n import Catalog
from tests.e2e.conftest import CHROMIUM
from tests.e2e.test_browser_flows import (  # noqa: F401
    from_bot,
    new_user,
    open_app,
    pages,
    screenshot,
    send,
)
from tests.localmode import LivePlatform, live_platform

if CHROMIUM is not None:
    from playwright.async_api import Page, expect

    expect.set_options(timeout=20_000)


@pytest.fixture
async def live_ai(owner_url: str, tmp_path: Path) -> AsyncIterator[LivePlatform]:
    async with live_platform(owner_url, tmp_path / "data", ai_local_seconds=1.0) as platform:
        yield platform


async def test_mini_app_creates_an_image_and_the_chat_receives_it(
    live_ai: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    page = pages[0]
    await page.goto(live_ai.webchat_url)
    await new_user(page, "Mia", "mia_art", 555_301)
    await send(page, "/start")
    app = await open_app(page, catalog.get("en", "start.open_app"))
    await app.get_by_test_id("tab-create").click()
    await app.get_by_test_id("create-model").select_option("flux-pro")
    await expect(app.get_by_test_id("create-price")).to_contain_text("5 VIBE")
    await app.get_by_test_id("create-param-aspect_ratio").select_option("16:9")
    await app.get_by_test_id("create-prompt").fill("a lighthouse in a storm")
    await expect(app.locator("html[data-live=live]")).to_have_count(1)
    await page.get_by_test_id("main-button").click()
    await expect(app.get_by_test_id("create-status")).to_have_text(
        catalog.get("en", "miniapp.create.status_succeeded")
    )
    image = app.get_by_test_id("create-output")
    await expect(image).to_be_visible()
    width: Any = await image.evaluate("img => img.naturalWidth")
    assert width == 640
    await expect(app.get_by_test_id("gallery-item")).to_have_count(1)
    # Followed by the server's events: none of its progress came from polling.
    job = app.get_by_test_id("create-job")
    assert await job.get_attribute("data-polls") == "0"
    assert int(await job.get_attribute("data-events") or 0) >= 2
    await screenshot(page, "miniapp-create.png")
    # Ordered in the Mini App, delivered in the chat too, as a photo with its prompt.
    photo = from_bot(page, "a lighthouse in a storm").locator("img")
    await expect(photo).to_be_visible()
    await app.get_by_test_id("tab-balances").click()
    await expect(app.get_by_test_id("available-VIBE")).to_have_text("15")


async def test_the_create_view_polls_while_the_socket_is_down(
    live_ai: LivePlatform, pages: list[Page], catalog: Catalog
) -> None:
    page = pages[0]
    await page.goto(live_ai.webchat_url)
    await new_user(page, "Noa", "noa_art", 555_311)
    await send(page, "/start")
    app = await open_app(page, catalog.get("en", "start.open_app"))
    await app.get_by_test_id("tab-create").click()
    await expect(app.locator("html[data-live=live]")).to_have_count(1)
    frame = next(f for f in page.frames if "/app/" in f.url)
    await frame.evaluate("GVL.live.drop()")
    await expect(app.locator("html[data-live=offline]")).to_have_count(1)
    await app.get_by_test_id("create-prompt").fill("a boat at dawn")
    await page.get_by_test_id("main-button").click()
    await expect(app.get_by_test_id("create-status")).to_have_text(
        catalog.get("en", "miniapp.create.status_succeeded")
    )
    await expect(app.get_by_test_id("create-output")).to_be_visible()
    job = app.get_by_test_id("create-job")
    assert int(await job.get_attribute("data-polls") or 0) >= 1
    assert await job.get_attribute("data-events") == "0"
    await frame.evaluate("GVL.live.reconnect()")
    await expect(app.locator("html[data-live=live]")).to_have_count(1)
