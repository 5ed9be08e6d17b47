"""`tether web` in Debian's Chromium: a question an agent asked a person shows in the
inbox with its choices as buttons; a click answers it (signed by the app's service key
for the person signed in), and an answer the question refuses is a page saying why. A
run's page shows the question as it is asked, and answers it the same way."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import CHROMIUM, CHROMIUM_MISSING, chromium
from tests.support.question_agents import ORDERS, REGISTRY, SCRIPTS, WHICH_ORDER
from tests.support.web import UI_TIMEOUT, served, sign_in, signed_in, until_listed_waiting
from tests.support.web import USERS as OTHERS
from tether import AgentRun, ApproverKeys, Signer
from tether.events import QuestionAnswered
from tether.testing import ScriptedLLM, worker
from tether.web import WebConfig, WebUser, create_app

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)


async def test_a_person_answers_the_agents_question_in_the_inbox(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    lead = OTHERS["lead@shop.test"]
    picker = WebUser(
        name="picker@shop.test",
        agents=("order-picker",),
        decide=True,
        password_hash=lead.password_hash,
    )
    service = Signer.generate()  # the web app's key, which the worker trusts for anyone
    trust = ApproverKeys(keys={service.public_key: ["*"]})
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(dev_env.client, REGISTRY, llm, approver_keys=trust) as w:
            config = WebConfig(users={**OTHERS, picker.name: picker}, signer=service)
            run = await AgentRun.start(
                dev_env.client, "order-picker", "My order is broken.", task_queue=w.task_queue
            )
            [question] = await run.wait_for_question()
            other = await AgentRun.start(
                dev_env.client, "order-picker", "It is broken.", task_queue=w.task_queue
            )
            await other.wait_for_question()
            await until_listed_waiting(dev_env.client, run.id, status="awaiting_answer")
            async with served(create_app(config, client=dev_env.client)) as base:
                async with signed_in(base, lead) as http:  # not this agent's runs
                    assert run.id not in (await http.get("/")).text
                async with signed_in(base, picker) as http:
                    refused = await http.post(
                        f"/runs/{run.id}/answer",
                        data={"csrf": http.headers["X-CSRF-Token"],
                              "call_id": question.call_id, "value": "A-1003"},
                    )  # fmt: skip
                async with chromium(tmp_path) as browser:
                    page = await browser.new_page()
                    await sign_in(page, base, picker)
                    card = page.locator(f'article.question[data-run="{run.id}"]')
                    await expect(card).to_be_visible(timeout=UI_TIMEOUT)
                    await expect(card.locator("pre.asked")).to_have_text(WHICH_ORDER)
                    buttons = card.locator("button.choice")
                    await expect(buttons).to_have_text(ORDERS)
                    await card.get_by_role("button", name=ORDERS[1]).click()
                    # Back in the inbox, where the question is answered and gone.
                    await expect(card).to_have_count(0, timeout=UI_TIMEOUT)
                    # The other run's page asks too, live.
                    await page.goto(f"{base}/runs/{other.id}")
                    shown = page.locator("#events")
                    await expect(shown.locator("li.question")).to_contain_text(
                        f"asked a person: {WHICH_ORDER} [A-1001 | A-1002]", timeout=UI_TIMEOUT
                    )
                    asked = page.locator("#approvals article.question")
                    await asked.get_by_role("button", name=ORDERS[0]).click()
                    await expect(page.locator("#status")).to_have_text(
                        "completed", timeout=UI_TIMEOUT
                    )
                    await expect(shown.locator("li.answered")).to_contain_text(
                        f'answered "{ORDERS[0]}" by {picker.name}'
                    )
            result = await run.result()
            events = [e async for e in run.events(watch=False)]
            assert (await other.result()).answer == f"You mean order {ORDERS[0]}."

    assert refused.status_code == 400
    refusal = 'the answer is refused: answer: must be one of "A-1001", "A-1002"'
    assert refusal in html.unescape(refused.text)
    assert result.answer == "You mean order A-1002."
    told = [e for e in events if isinstance(e, QuestionAnswered)]
    assert [(e.answer, e.answered_by) for e in told] == [('"A-1002"', picker.name)]
