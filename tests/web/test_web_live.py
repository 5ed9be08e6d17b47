"""`tether web`'s live pages in Debian's Chromium: a reload mid-stream loses no event
and shows none twice; an edited approval runs with the edited arguments; nothing a
model or a tool call says becomes markup; a chat asks for its approval inline."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, chromium
from tests.support.ledger import CUSTOMER, rows
from tests.support.order_desk import ORDER_DESK, REGISTRY, order_desk_script, refund_prompt
from tests.support.web import (
    CUSTOMER_USER,
    LEAD,
    UI_TIMEOUT,
    USERS,
    served,
    sign_in,
    until_listed_waiting,
)
from tether import Agent, AgentRun, ApproverKeys, Signer
from tether.events import TextDelta, subscribe
from tether.testing import ScriptedLLM, call_tools, say, worker
from tether.web import WebConfig, create_app

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)
SERVICE = Signer.generate()
TRUST = ApproverKeys(keys={SERVICE.public_key: ["*"]})
# Under the order desk's name, which the signed-in lead may watch.
WRITER = Agent(name=ORDER_DESK.name, instructions="Write at length.")
LONG_ANSWER = " ".join(f"word{i}" for i in range(200))
INJECTED = "<script>window.__pwned = 1</script>"
MARKDOWN = '[click to approve](https://evil.example/x) <img src=x onerror="window.__pwned=2">'


async def test_a_reload_mid_stream_loses_no_event_and_repeats_none(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    with ScriptedLLM(chunk_delay=0.05) as llm:
        llm.enqueue(say(LONG_ANSWER))
        async with worker(dev_env.client, [WRITER], llm, approver_keys=TRUST) as w:
            config = WebConfig(users=USERS, signer=SERVICE, task_queue=w.task_queue)
            async with (
                served(create_app(config, client=dev_env.client)) as base,
                chromium(tmp_path) as browser,
            ):
                page = await browser.new_page()
                await sign_in(page, base, LEAD)
                run = await AgentRun.start(
                    dev_env.client, WRITER, "Tell me everything.", task_queue=w.task_queue,
                    watch=True,  # its one model call streams its text (watched from the start)
                )  # fmt: skip
                await page.goto(f"{base}/runs/{run.id}")
                # Mid-stream: some of the answer is on the page, not all of it.
                await until_shown(page, 8)
                before = await page.evaluate("window.tether.seqs.slice()")
                assert not await page.evaluate("window.tether.ended"), "the run ended too soon"
                await page.reload()
                await expect(page.locator("#status")).to_have_text("completed", timeout=UI_TIMEOUT)
                shown = await page.evaluate("window.tether.seqs.slice()")
                duplicates = await page.evaluate("window.tether.duplicates")
                answer = await page.locator("li.answer").last.text_content()
            async with asyncio.timeout(60):
                feed = [e async for e in subscribe(dev_env.client, run.id, watch=False)]
    assert shown[: len(before)] == before  # what was seen before the reload stays
    assert shown == [e.seq for e in feed]  # every event of the feed, each once, in order
    assert duplicates == 0
    assert sum(isinstance(e, TextDelta) for e in feed) > 8  # it was written in pieces
    assert answer == LONG_ANSWER


async def until_shown(page: Page, count: int, within: float = 60) -> None:
    """Until the page has shown `count` events (polled from here: the page's CSP lets
    no string be evaluated as script in it, Playwright's wait_for_function included)."""
    async with asyncio.timeout(within):
        while True:
            if await page.evaluate("window.tether ? window.tether.seqs.length : 0") >= count:
                return
            await asyncio.sleep(0.05)


async def test_an_edited_approval_runs_edited_and_model_text_stays_text(
    dev_env: WorkflowEnvironment, ledger: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("issue_refund", {"order_id": "A-1001", "reason": INJECTED + MARKDOWN})),
            say(f"Done. {INJECTED} {MARKDOWN}"),
        )
        async with worker(dev_env.client, REGISTRY, llm, approver_keys=TRUST) as w:
            config = WebConfig(users=USERS, signer=SERVICE, task_queue=w.task_queue)
            run = await AgentRun.start(
                dev_env.client, ORDER_DESK, "Refund A-1001 please.",
                acting_for=CUSTOMER, task_queue=w.task_queue,
            )  # fmt: skip
            await run.wait_for_approval(within=60)
            await until_listed_waiting(dev_env.client, run.id)
            async with (
                served(create_app(config, client=dev_env.client)) as base,
                chromium(tmp_path) as browser,
            ):
                page = await browser.new_page()
                await sign_in(page, base, LEAD)
                card = page.locator(f'article.call[data-run="{run.id}"]')
                await expect(card.locator("pre.arguments")).to_contain_text(INJECTED)
                await card.get_by_text("Edit the arguments").click()
                await card.locator("textarea[name=arguments]").fill(
                    '{"order_id": "A-1001", "reason": "damaged in transit"}'
                )
                await card.get_by_role("button", name="Approve").click()
                await expect(page.locator("#status")).to_have_text("completed", timeout=UI_TIMEOUT)
                await expect(page.locator("li.decided")).to_contain_text("(edited)")
                await expect(page.locator("li.answer").last).to_contain_text(INJECTED)
                await expect(page.locator("li.tool").first).to_contain_text(INJECTED)
                # Shown as text: no script ran, no link or image was made of it.
                assert await page.evaluate("window.__pwned") is None
                assert await page.locator('a[href*="evil"]').count() == 0
                assert await page.locator("main img").count() == 0
    [(reason, approver)] = rows(ledger, "SELECT reason, approved_by FROM refunds")
    assert (reason, approver) == ("damaged in transit", LEAD.name)


async def test_a_chat_asks_for_its_approval_inline(
    dev_env: WorkflowEnvironment, ledger: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    with ScriptedLLM(order_desk_script) as llm:
        async with worker(dev_env.client, REGISTRY, llm, approver_keys=TRUST) as w:
            config = WebConfig(
                users=USERS, signer=SERVICE, task_queue=w.task_queue, agents=REGISTRY
            )
            async with (
                served(create_app(config, client=dev_env.client)) as base,
                chromium(tmp_path) as browser,
            ):
                page = await browser.new_page()
                await sign_in(page, base, CUSTOMER_USER)
                await page.get_by_role("link", name="New chat").click()
                await page.get_by_label("Message").fill(refund_prompt("A-1001"))
                await page.get_by_role("button", name="Start").click()
                approval = page.locator("#approvals article.call")
                await expect(approval).to_contain_text("issue_refund", timeout=UI_TIMEOUT)
                await page.screenshot(path=ARTIFACTS / "tether-web-chat.png", full_page=True)
                await approval.get_by_role("button", name="Approve").click()
                answers = page.locator("li.answer")
                await expect(answers.last).to_contain_text("refunded", timeout=UI_TIMEOUT)
                await expect(page.locator("#approvals article")).to_have_count(0)
                await page.get_by_placeholder("Write a message").fill("Thanks!")
                await page.get_by_role("button", name="Send").click()
                await expect(page.locator("li.user").last).to_have_text("Thanks!")
                await expect(answers.last).to_contain_text("order number", timeout=UI_TIMEOUT)
                workflow_id = page.url.rsplit("/chat/", 1)[1]
            chat = AgentRun.attach(dev_env.client, workflow_id)
            await chat.end()
            assert (await asyncio.wait_for(chat.result(), 60)).status == "completed"
    [(approver,)] = rows(ledger, "SELECT approved_by FROM refunds")
    assert approver == CUSTOMER_USER.name
