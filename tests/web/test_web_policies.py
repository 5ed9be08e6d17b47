"""`tether web` shows what an approval policy said of the calls a person decides: the
inbox and the run page show the rule that asked them and the judge's verdict and
reasoning, and the run's events show who decided (in Debian's Chromium)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import CHROMIUM, CHROMIUM_MISSING, chromium
from tests.support.ledger import CUSTOMER
from tests.support.order_desk import ORDER_DESK, order_desk_script, refund_prompt
from tests.support.web import (
    LEAD,
    UI_TIMEOUT,
    USERS,
    served,
    sign_in,
    signed_in,
    until_listed_waiting,
)
from tether import AgentRun, ApproverKeys, Signer
from tether.approvals import ApprovalPolicy, Judge, Rule
from tether.testing import ScriptedLLM, Step, say, worker
from tether.web import WebConfig, create_app

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)
JUDGE = Judge(name="refund-judge")
JUDGED = dataclasses.replace(
    ORDER_DESK, approval_policy=ApprovalPolicy(rules=[Rule.ask_judge("refunds")], judge=JUDGE)
)
SAID = "judge tether-scripted said refuse: too much for a teapot"


def refusing_judge(messages: list[dict[str, Any]]) -> Step:
    return say(json.dumps({"verdict": "refuse", "reasoning": "too much for a teapot"}))


async def test_a_call_a_judge_refused_shows_its_verdict_to_the_person_who_decides(
    dev_env: WorkflowEnvironment, ledger: Path, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    service = Signer.generate()
    trust = ApproverKeys(keys={service.public_key: ["*"]})
    scripts = {ORDER_DESK.name: order_desk_script, JUDGE.name: refusing_judge}
    with ScriptedLLM(scripts=scripts) as llm:
        async with worker(dev_env.client, JUDGED, llm, approver_keys=trust) as w:
            config = WebConfig(users=USERS, signer=service, task_queue=w.task_queue)
            run = await AgentRun.start(
                dev_env.client, JUDGED, refund_prompt("A-1001"), acting_for=CUSTOMER,
                task_queue=w.task_queue,
            )  # fmt: skip
            await run.wait_for_approval(within=60)
            await until_listed_waiting(dev_env.client, run.id)
            async with served(create_app(config, client=dev_env.client)) as base:
                async with signed_in(base, LEAD) as http:
                    inbox = (await http.get("/")).text
                    pending = (await http.get(f"/runs/{run.id}/pending")).json()
                async with chromium(tmp_path) as browser:
                    page = await browser.new_page()
                    await sign_in(page, base, LEAD)
                    await page.goto(f"{base}/runs/{run.id}")
                    box = page.locator("#approvals article.call")
                    await expect(box.locator("p.policy")).to_contain_text(SAID, timeout=UI_TIMEOUT)
                    events = page.locator("#events")
                    await expect(events.locator("li.approval")).to_contain_text(
                        "rule refunds (ask judge)"
                    )
                    await box.get_by_label("Reason").fill("agreed")
                    await box.get_by_role("button", name="Reject").click()
                    await expect(events.locator("li.decided")).to_contain_text(
                        f"rejected issue_refund by {LEAD.name}", timeout=UI_TIMEOUT
                    )
            result = await run.result()

    assert result.status == "completed"
    card = inbox[inbox.index(f'data-run="{run.id}"') :]
    assert "asked by the approval policy: rule refunds" in card
    assert '<span class="reasoning">too much for a teapot</span>' in card
    (call,) = pending["calls"]
    assert call["policy"]["rule"] == "refunds"
    assert call["policy"]["judge"]["verdict"] == "refuse"
