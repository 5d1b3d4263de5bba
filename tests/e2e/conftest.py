"""Browser tests: the whole platform in-process in local mode, headless Chromium driving it.

Chromium is Debian's package or Playwright's own download (`python3 dev.py test` installs one
where it can); CHROMIUM_PATH points at another binary. Without one every browser test skips
with one line saying so, except under CI=true, where they fail: CI never passes without them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests import localmode
from tests.localmode import LivePlatform


def _playwright_chromium() -> str | None:
    cache = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
    downloaded = sorted(Path(cache).glob("chromium-*/chrome-linux*/chrome"))
    return str(downloaded[-1]) if downloaded else None


CHROMIUM = (
    os.environ.get("CHROMIUM_PATH")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
    or _playwright_chromium()
)
SKIP_REASON = (
    "chromium is not installed (python3 dev.py test installs it where it can: "
    "apt-get install -y chromium as root, or python -m playwright install chromium)"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture starts a platform: skip (or, in CI, fail) a test that needs the
    browser when there is none."""
    if CHROMIUM is None and "browser" in getattr(item, "fixturenames", ()):
        if IN_CI:
            pytest.fail(f"{SKIP_REASON}; under CI=true the browser tests never skip")
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    assert CHROMIUM is not None  # pytest_runtest_setup skipped or failed the test otherwise
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()
