"""`tether web` in Debian's Chromium: the order desk's lead signs in, finds the waiting
refund in the inbox with its complete arguments and context, approves it (signed by the
app's service key for the lead), and the run page shows the refund and the answer as it
is written; a signed-in person without rights sees neither the run nor the call."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, chromium
from tests.support.ledger import CUSTOMER, rows
from tests.support.order_desk import ORDER_DESK, REGISTRY, order_desk_script, refund_prompt
from tests.support.web import (
    LEAD,
    OUTSIDER,
    UI_TIMEOUT,
    USERS,
    served,
    sign_in,
    signed_in,
    until_listed_waiting,
)
from tether import AgentRun, ApproverKeys, Signer
from tether.testing import ScriptedLLM, worker
from tether.web import WebConfig, create_app

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)
PROMPT = refund_prompt("A-1001")
LATER = refund_prompt("A-1004")


async def test_a_lead_approves_the_waiting_refund_and_watches_the_answer(
    dev_env: WorkflowEnvironment, ledger: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    service = Signer.generate()  # the web app's key, which the workers trust for anyone
    trust = ApproverKeys(keys={service.public_key: ["*"]})
    with ScriptedLLM(order_desk_script, chunk_delay=0.02) as llm:
        async with worker(dev_env.client, REGISTRY, llm, approver_keys=trust) as w:
            config = WebConfig(users=USERS, signer=service, task_queue=w.task_queue)
            run = await AgentRun.start(
                dev_env.client, ORDER_DESK, PROMPT, acting_for=CUSTOMER,
                task_queue=w.task_queue,
            )  # fmt: skip
            [call] = await run.wait_for_approval(within=60)
            later = await AgentRun.start(
                dev_env.client, ORDER_DESK, LATER, acting_for=CUSTOMER,
                task_queue=w.task_queue,
            )  # fmt: skip
            [later_call] = await later.wait_for_approval(within=60)
            await until_listed_waiting(dev_env.client, run.id)
            await until_listed_waiting(dev_env.client, later.id)
            async with served(create_app(config, client=dev_env.client)) as base:
                await _outsider_sees_nothing(base, run.id, call.call_id, call.digest)
                await _the_filter_narrows_the_inbox(base, run.id)
                async with signed_in(base, LEAD) as http:
                    inbox = (await http.get("/")).text
                    # Oldest first: the call that has waited longest comes first.
                    assert inbox.index(f'data-run="{run.id}"') < inbox.index(
                        f'data-run="{later.id}"'
                    )
                async with chromium(tmp_path) as browser:
                    page = await browser.new_page()
                    # Someone without rights to the order desk sees neither the call
                    # nor the run, in the browser too.
                    await sign_in(page, base, OUTSIDER)
                    await expect(page.locator(".count")).to_have_text(
                        "0 of 0 waiting, oldest first."
                    )
                    await page.goto(f"{base}/runs/{run.id}")
                    await expect(page.get_by_role("alert")).to_have_text("No such run here.")
                    await page.get_by_role("button", name="Sign out").click()
                    await sign_in(page, base, LEAD)
                    card = page.locator(f'article.call[data-run="{run.id}"]')
                    await expect(card).to_be_visible(timeout=UI_TIMEOUT)
                    # The complete canonical arguments, the digest and the prompt.
                    await expect(card.locator("pre.arguments")).to_contain_text('"A-1001"')
                    await expect(card.locator("pre.arguments")).to_contain_text(PROMPT)
                    await expect(card.locator(".digest")).to_contain_text(call.digest or "")
                    await expect(card.locator("pre.prompt")).to_have_text(PROMPT)
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=ARTIFACTS / "tether-web-inbox.png", full_page=True)
                    await card.get_by_label("Reason").fill("damaged in transit")
                    await card.get_by_role("button", name="Approve").click()
                    # The run page: the refund's result and the answer, streamed.
                    await expect(page.locator("#status")).to_have_text(
                        "completed", timeout=UI_TIMEOUT
                    )
                    events = page.locator("#events")
                    await expect(events.locator("li.decided")).to_contain_text(
                        "approved issue_refund"
                    )
                    await expect(
                        events.locator("li.result").filter(has_text="issue_refund")
                    ).to_be_visible()
                    await expect(events.locator("li.answer").last).to_contain_text("A-1001")
                    await page.screenshot(path=ARTIFACTS / "tether-web-run.png", full_page=True)
            await later.reject(later_call, signer=service, approver=LEAD.name, reason="later")
            assert (await later.result()).status == "completed"
    result = await run.result()
    assert result.status == "completed"
    [(approver,)] = rows(ledger, "SELECT approved_by FROM refunds")  # not A-1004
    assert approver == LEAD.name  # signed by the app's key, for the person signed in


async def _the_filter_narrows_the_inbox(base: str, workflow_id: str) -> None:
    async with signed_in(base, LEAD) as http:
        for q, shown in [
            ("order_id=A-1001 tool=issue_refund", True),
            ("order_id=A-1002", False),
            ("age>1d", False),
        ]:
            page = await http.get("/", params={"q": q})
            assert (f'data-run="{workflow_id}"' in page.text) is shown, q
        assert f'data-run="{workflow_id}"' in (await http.get("/?agent=order-desk")).text
        unreadable = await http.get("/", params={"q": "amount"})
        assert 'role="alert"' in unreadable.text and "NAME OP VALUE" in unreadable.text


async def _outsider_sees_nothing(
    base: str, workflow_id: str, call_id: str, digest: str | None
) -> None:
    async with signed_in(base, OUTSIDER) as http:
        inbox = await http.get("/")
        assert inbox.status_code == 200
        assert workflow_id not in inbox.text and "issue_refund" not in inbox.text
        for path in ("", "/events", "/pending", "/events/agui"):
            answer = await http.get(f"/runs/{workflow_id}{path}")
            assert answer.status_code == 404, (path, answer.status_code)
        decided = await http.post(
            f"/runs/{workflow_id}/decide",
            data={"csrf": http.headers["X-CSRF-Token"], "call_id": call_id,
                  "digest": digest or "", "action": "approve"},
        )  # fmt: skip
        assert decided.status_code == 400
        listing = await http.get("/runs")
        assert workflow_id not in listing.text
