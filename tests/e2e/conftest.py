"""Browser tests: the whole platform in-process in local mode, headless Chromium driving it.

Chromium is Debian's package (Playwright's own download needs the network); without it every
browser test skips with one line saying so. CHROMIUM_PATH points at another binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import localmode
from tests.localmode import LivePlatform

CHROMIUM = (
    os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
)
SKIP_REASON = "chromium is not installed (apt-get install -y chromium, or .ci/browser.sh)"
# Without the background-networking flags Chromium keeps calling Google services, which on a
# closed network only means noise and delays.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


__all__ = ["LivePlatform"]
live = localmode.live  # the platform in local mode, shared with the integration tests
live_ed25519 = localmode.live_ed25519  # the same, with INIT_DATA_VALIDATION=ed25519


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()
