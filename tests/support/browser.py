"""Debian's Chromium (/usr/bin/chromium) driven by Playwright from PyPI, for the tests that
look at a page as a person would (the Temporal web UI, `tether web`, the evaluation's
HTML report); Playwright's own browser download is never used, and a test skips without
Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = f"{CHROMIUM} not installed (apt-get install -y chromium); browser test skipped"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Where the tests leave what a person checks by eye (screenshots, reports).
ARTIFACTS = Path(__file__).resolve().parents[2] / ".tether" / "artifacts"


@asynccontextmanager
async def chromium(
    tmp_path: Path, viewport: ViewportSize | None = None
) -> AsyncIterator[BrowserContext]:
    """Debian's Chromium, its profile under `tmp_path`, reaching nothing beyond loopback
    (the Temporal web UI also asks the internet for a news feed)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport=viewport or {"width": 1100, "height": 1000},
        )
        try:
            await browser.route(
                re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda route: route.abort()
            )
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    """A page of `chromium`, large enough for the Temporal web UI's run pages."""
    async with chromium(tmp_path, {"width": 1400, "height": 1250}) as browser:
        yield await browser.new_page()
