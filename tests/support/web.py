"""Helpers of the `tether web` tests: the app served on a free loopback port in the
test's process, its people (on the order desk), a signed-in HTTP client, and signing in
in a browser (Chromium is tests/support/browser.py's)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
import uvicorn
from starlette.types import ASGIApp
from temporalio.client import Client

from tests.support.ledger import CUSTOMER
from tests.support.processes import free_port
from tests.support.waiting import until
from tether._search_attributes import AGENT_STATUS
from tether._web.access import WebUser, hash_password

if TYPE_CHECKING:
    from playwright.async_api import Page

PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD)
LEAD = WebUser(
    name="lead@shop.test",
    agents=("order-desk",),
    chat=("order-desk",),
    decide=True,
    password_hash=_HASH,
)
# Signed in, and may decide, but only the runs of another agent.
OUTSIDER = WebUser(name="billing@shop.test", agents=("billing",), decide=True, password_hash=_HASH)
# A customer who chats with the order desk and confirms what it does for her: she sees
# the runs that act for her (CUSTOMER, Ada) and decides their calls.
CUSTOMER_USER = WebUser(
    name="ada@example.com",
    acting_for=CUSTOMER,
    chat=("order-desk",),
    decide=True,
    password_hash=_HASH,
)
USERS = {u.name: u for u in (LEAD, OUTSIDER, CUSTOMER_USER)}
UI_TIMEOUT = 60_000  # ms, on a busy two-core machine


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """`app` on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while True:  # uvicorn says it started by a flag, not an event
                if server.started:
                    break
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def signed_in(base: str, user: WebUser = LEAD) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as `user`, sending the app's Origin and the session's
    CSRF token (read off the inbox page) in X-CSRF-Token."""
    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}, timeout=60) as http:
        yield await _sign_in(http, user)


async def _sign_in(http: httpx.AsyncClient, user: WebUser) -> httpx.AsyncClient:
    answer = await http.post("/login", data={"name": user.name, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    page = await http.get("/")
    match = re.search(r'<meta name="csrf" content="([^"]+)"', page.text)
    assert match, "the inbox carries no CSRF token"
    http.headers["X-CSRF-Token"] = match.group(1)
    return http


async def until_listed_waiting(
    client: Client, workflow_id: str, within: float = 30, status: str = "awaiting_approval"
) -> None:
    """Until Temporal's visibility lists the run as waiting for a person (`status`; it
    trails the run by a moment)."""
    query = f"{AGENT_STATUS} = '{status}' AND WorkflowId = '{workflow_id}'"

    async def listed() -> bool:
        return bool([r async for r in client.list_workflows(query)])

    await until(listed, f"{workflow_id} never listed as {status}", within=within, every=0.2)


async def sign_in(page: Page, base: str, user: WebUser = LEAD) -> None:
    from playwright.async_api import expect

    await page.goto(f"{base}/")
    await page.get_by_label("Name").fill(user.name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signed-in-as")).to_have_text(user.name, timeout=UI_TIMEOUT)
