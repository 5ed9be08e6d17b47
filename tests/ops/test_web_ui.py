"""The Temporal web UI shows a finished run readably, checked in a real browser.

Debian's Chromium through tests/support/browser.py. Without Chromium this one test is
skipped (`.ci/run` installs it, so CI always runs it).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, browser_page
from tests.support.expiry import asked
from tests.support.ledger import CUSTOMER
from tests.support.order_desk import REGISTRY, UNATTENDED, order_desk_script
from tests.support.processes import cli, free_port, process_env, target, worker_process
from tether import AgentRun
from tether._visibility import run_summary
from tether.testing import SIGNER, ScriptedLLM, dev_server, worker

ARTIFACT = ARTIFACTS / "web-ui-run.png"
WAITING_TIMELINE = ARTIFACTS / "web-ui-waiting.png"
WAITING_DETAILS = ARTIFACTS / "web-ui-waiting-details.png"
PROMPT = "Order A-1001 arrived broken, I want my money back."
FAST_TOOL_CALL = "lookup_order(order_id='A-1001')"
REFUND_CALL = f"issue_refund(order_id='A-1001', reason={PROMPT!r})"
LLM_CALL = "llm order-desk model · turn 1 · agent spec recorded"
UI_TIMEOUT = 60_000  # ms; alone the page renders in ~5 s, on a busy 2-core machine ~25 s

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)


@pytest.fixture(scope="module")
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server with its web UI on a free port (dev_env has no UI, which is faster)."""
    port = free_port()
    async with dev_server(ui_port=port) as env:
        yield env, port


async def test_web_ui_shows_the_run_summary_and_tool_calls(
    ui_env: tuple[WorkflowEnvironment, int], tmp_path: Path
) -> None:
    env, port = ui_env
    summary = run_summary("order-desk", PROMPT)
    workflow_id = f"order-desk-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(env.client, UNATTENDED, llm) as w:
            # AgentRun gives the run its summary (the agent and the prompt).
            handle = (
                await AgentRun.start(
                    env.client, "order-desk", PROMPT, id=workflow_id, task_queue=w.task_queue,
                    acting_for=CUSTOMER,
                )
            ).handle  # fmt: skip
            assert (await handle.result()).status == "completed"
            # The worker stays up while the browser looks: the run page queries the
            # workflow, and with no worker each query waits seconds before failing.
            run_page = f"http://127.0.0.1:{port}/namespaces/default/workflows/{workflow_id}"
            await check_run_page(f"{run_page}/{handle.result_run_id}", summary, tmp_path)


async def check_run_page(run_page: str, summary: str, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with browser_page(tmp_path) as page:
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


async def test_every_link_the_cli_prints_opens_its_run(
    ui_env: tuple[WorkflowEnvironment, int], tmp_path: Path
) -> None:
    env, port = ui_env
    shell = process_env(
        target(env),
        f"links-{uuid.uuid4().hex[:8]}",
        tmp_path / "ledger.db",
        TETHER_UI_URL=f"http://127.0.0.1:{port}",
    )
    with worker_process(shell, tmp_path / "worker.log"):
        ran = cli(shell, "run", "Where is order A-1003?")
        detached = cli(shell, "run", "Where is order A-1002?", "--detach")
        chatted = cli(shell, "chat", stdin="Where is order A-1003?\n")
        chat_id = chatted.stdout.split("chat --id ")[-1].strip()
        attached = cli(shell, "chat", "--id", chat_id, stdin="")
        piped = cli(shell, "pipeline", "Order A-1003: where is my lamp?")
        watched = cli(shell, "watch", ran.stdout.split("workflow id: ")[-1].split()[0])
        printed = {
            "run": ran.stdout,
            "run --detach": detached.stdout,
            "chat": chatted.stdout,
            "chat --id": attached.stdout,
            "watch": watched.stdout,
            "pipeline": piped.stdout,
        }
        links = {
            (command, link)
            for command, out in printed.items()
            for link in re.findall(rf"http://127\.0\.0\.1:{port}/\S+", out)
        }
        assert {command for command, _ in links} == set(printed), printed
        async with browser_page(tmp_path) as page:
            for command, link in sorted(links):
                await check_opens_its_run(page, command, link)


async def check_opens_its_run(page: Page, command: str, link: str) -> None:
    from playwright.async_api import expect

    workflow_id = link.split("/workflows/")[1].split("/")[0]
    await page.goto(link)
    # The run's own page: its id as the heading, and its tabs (a 404 page has neither).
    heading = page.get_by_role("heading", name=workflow_id)
    await expect(heading, f"{command}: {link}").to_be_visible(timeout=UI_TIMEOUT)
    await expect(page.get_by_role("tab", name="Timeline")).to_be_visible(timeout=UI_TIMEOUT)


async def test_the_page_of_a_run_waiting_for_approval_says_what_waits_and_how_to_decide(
    ui_env: tuple[WorkflowEnvironment, int], tmp_path: Path
) -> None:
    from playwright.async_api import expect

    env, port = ui_env
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(env.client, REGISTRY, llm) as w:
            run, call, expiries = await asked(env.client, w.task_queue)
            # The page must show now + the timeout, read off this clock (not the run's
            # own `expires_at`, which a wrong expiry would make agree).
            until = re.compile("|".join(re.escape(e) for e in expiries))
            decide = f"tether approve {run.id} --call {call.call_id} --digest {call.digest}"
            async with browser_page(tmp_path) as page:
                await page.goto(f"http://127.0.0.1:{port}/namespaces/default/workflows/{run.id}")
                # The timeline: the wait is a timer labelled with what it waits for.
                waits = 'waiting for a person to approve issue_refund({"order_id": "A-1001"'
                await expect(page.get_by_text(waits)).to_be_visible(timeout=UI_TIMEOUT)
                await expect(page.get_by_text(f"{decide} (or reject)")).to_be_attached()
                ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=WAITING_TIMELINE)
                # Its current details: what waits, with what arguments, until when, how to
                # decide, and what the run found before (the amount); the static details
                # explain the page's rows.
                await page.get_by_role("tab", name="User Metadata").click()
                # Each markdown section is an iframe: summary, details, current details.
                details, current = (page.frame_locator("iframe").nth(i) for i in (1, 2))
                for text in (
                    "Waiting for a person",
                    until,
                    '"order_id": "A-1001",',
                    decide,
                    '"amount": 42.0,',
                ):
                    await expect(current.get_by_text(text).first).to_be_visible(timeout=UI_TIMEOUT)
                await expect(details.get_by_text("Reading this page.")).to_be_visible()
                await page.screenshot(path=WAITING_DETAILS)
            await run.reject(call, signer=SIGNER, reason="seen in the browser test")
            assert (await run.result()).status == "completed"
