"""The Temporal web UI shows a finished run readably, checked in a real browser.

Debian's Chromium (/usr/bin/chromium) driven by Playwright from PyPI; Playwright's own
browser download is never used. Without Chromium this one test is skipped (`.ci/run`
installs it, so CI always runs it).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from support_desk.offline import support_desk_responder
from tests.conftest import CUSTOMER, UNATTENDED, free_port, running_worker
from tether import AgentInput, AgentWorkflow
from tether._temporal import TETHER_CONVERTER
from tether._visibility import SEARCH_KEYS, run_summary
from tether.testing import ScriptedLLM, binary

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = f"{CHROMIUM} not installed (apt-get install -y chromium); web UI test skipped"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACT = Path(__file__).resolve().parent.parent / ".tether" / "artifacts" / "web-ui-run.png"
PROMPT = "Order A-1001 arrived broken, I want my money back."
FAST_TOOL_CALL = "lookup_order(order_id='A-1001')"
REFUND_CALL = f"issue_refund(order_id='A-1001', reason={PROMPT!r})"
LLM_CALL = "llm tether-scripted · turn 1"
UI_TIMEOUT = 60_000  # ms; alone the page renders in ~5 s, on a busy 2-core machine ~25 s

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)


@pytest.fixture(scope="module")
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server with its web UI on a free port (dev_env has no UI, which is faster)."""
    port = free_port()
    async with await WorkflowEnvironment.start_local(
        data_converter=TETHER_CONVERTER,
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_KEYS,
        ui=True,
        ui_port=port,
    ) as env:
        yield env, port


async def test_web_ui_shows_the_run_summary_and_tool_calls(
    ui_env: tuple[WorkflowEnvironment, int], shop_db: Path, tmp_path: Path
) -> None:
    env, port = ui_env
    summary = run_summary("support-desk", PROMPT)
    workflow_id = f"support-desk-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(support_desk_responder) as llm:
        async with running_worker(env.client, llm, agents=UNATTENDED) as worker:
            handle = await env.client.start_workflow(
                AgentWorkflow.run,
                AgentInput(agent="support-desk", acting_for=CUSTOMER, prompt=PROMPT),
                id=workflow_id,
                task_queue=worker.task_queue,
                static_summary=summary,
            )
            assert (await handle.result()).status == "completed"
            # The worker stays up while the browser looks: the run page queries the
            # workflow, and with no worker each query waits seconds before failing.
            run_page = f"http://127.0.0.1:{port}/namespaces/default/workflows/{workflow_id}"
            await check_run_page(f"{run_page}/{handle.result_run_id}", summary, tmp_path)


async def check_run_page(run_page: str, summary: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

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
            # Nothing beyond loopback: the UI also asks the internet for a news feed.
            await page.route(
                re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda route: route.abort()
            )
            # Event History lists every event with its summary, local activities included
            # (fast tools such as lookup_order run as local activities).
            await page.goto(f"{run_page}/history")
            for text in (summary, f"tool {FAST_TOOL_CALL}"):
                await expect(page.get_by_text(text, exact=True)).to_be_visible(timeout=UI_TIMEOUT)
            # The timeline labels each (regular) activity with its summary: the screenshot.
            # A tab click, not a new page load, which would start the UI's scripts again.
            await page.get_by_role("tab", name="Timeline").click()
            for text in (f"tether.llm • {LLM_CALL}", f"tether.tool • tool {REFUND_CALL}"):
                await expect(page.get_by_text(text, exact=True)).to_be_visible(timeout=UI_TIMEOUT)
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=ARTIFACT)
        finally:
            await browser.close()
