"""Debian's Chromium (/usr/bin/chromium) driven by Playwright from PyPI, for the tests that
look at a page as a person would (the web UI, the evaluation's HTML report); Playwright's
own browser download is never used, and a test skips without Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = f"{CHROMIUM} not installed (apt-get install -y chromium); browser test skipped"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Where the tests leave what a person checks by eye (screenshots, reports).
ARTIFACTS = Path(__file__).resolve().parents[2] / ".tether" / "artifacts"


@asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    """A page of Debian's Chromium that reaches nothing beyond loopback (the web UI also
    asks the internet for a news feed)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1250},
        )
        try:
            page = await browser.new_page()
            await page.route(
                re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda route: route.abort()
            )
            yield page
        finally:
            await browser.close()
