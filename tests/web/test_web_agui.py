"""An AG-UI client (the web guide's, with the `ag-ui-protocol` package's own types) runs
agent turns through `tether web`: a refund asked for streams its tool calls and ends in
an interrupt for the person's decision; the approval it resumes with is signed for the
signed-in person; a message more streams its text. A question the agent asks ends a turn
in an interrupt too, answered by the next."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from ag_ui.core import (
    CustomEvent,
    EventType,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    TextMessageContentEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from temporalio.testing import WorkflowEnvironment

from tests.support.doc_blocks import ROOT, titled
from tests.support.ledger import rows
from tests.support.order_desk import ORDER_DESK, REGISTRY, order_desk_script, refund_prompt
from tests.support.question_agents import ORDERS, WHICH_ORDER
from tests.support.question_agents import REGISTRY as QUESTIONS
from tests.support.question_agents import SCRIPTS as QUESTION_SCRIPTS
from tests.support.web import CUSTOMER_USER, OUTSIDER, PASSWORD, USERS, served, signed_in
from tether import ApproverKeys, PendingApproval, Signer
from tether._web.agui import interrupted
from tether.approvals import JudgeVerdict, PolicyVerdict
from tether.testing import ScriptedLLM, worker
from tether.web import WebConfig, WebUser, create_app

GUIDE = ROOT / "docs" / "guides" / "web.md"
PROMPT = refund_prompt("A-1001")
AGENT = ORDER_DESK.name


def guide_client(tmp_path: Path) -> ModuleType:
    """The guide's AG-UI client, as the page shows it."""
    path = tmp_path / "agui_client.py"
    path.write_text(titled(GUIDE)["agui_client.py"])
    spec = importlib.util.spec_from_file_location("agui_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["agui_client"] = module
    spec.loader.exec_module(module)
    return module


async def test_an_agui_client_runs_turns_and_resumes_an_approval(
    dev_env: WorkflowEnvironment, ledger: Path, tmp_path: Path
) -> None:
    client = guide_client(tmp_path)
    service = Signer.generate()
    trust = ApproverKeys(keys={service.public_key: ["*"]})
    thread = f"agui-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(order_desk_script, chunk_delay=0.01) as llm:
        async with worker(dev_env.client, REGISTRY, llm, approver_keys=trust) as w:
            config = WebConfig(
                users=USERS, signer=service, task_queue=w.task_queue, agents=REGISTRY
            )
            async with served(create_app(config, client=dev_env.client)) as base:
                http = await client.sign_in(base, CUSTOMER_USER.name, PASSWORD)
                try:
                    asked = await client.turn(http, AGENT, client.say(thread, PROMPT))
                    outcome = _finished(asked, "interrupt").outcome
                    assert isinstance(outcome, RunFinishedInterruptOutcome)
                    [interrupt] = outcome.interrupts
                    resumed = await client.turn(http, AGENT, client.approve(thread, interrupt.id))
                    _finished(resumed, "success")
                    more = await client.turn(http, AGENT, client.say(thread, "Thanks!"))
                    _finished(more, "success")
                finally:
                    await http.aclose()
                async with signed_in(base, OUTSIDER) as outsider:
                    refused = await outsider.post(
                        f"/agui/{AGENT}",
                        content=client.say(thread, "hello").model_dump_json(by_alias=True),
                    )
                    assert refused.status_code == 404  # another's thread is not there
    assert asked[0].type == EventType.RUN_STARTED
    started = [e.tool_call_name for e in asked if isinstance(e, ToolCallStartEvent)]
    assert started == ["lookup_order", "issue_refund"]
    assert interrupt.tool_call_id is not None and interrupt.id.startswith(interrupt.tool_call_id)
    assert any(isinstance(e, CustomEvent) and e.name == "tether.approval_waiting" for e in asked)
    results = [e for e in resumed if isinstance(e, ToolCallResultEvent)]
    assert results[0].tool_call_id == interrupt.tool_call_id
    assert "refund_id" in str(results[0].content)
    text = "".join(e.delta for e in resumed if isinstance(e, TextMessageContentEvent))
    assert "refunded" in text
    assert "order number" in "".join(
        e.delta for e in more if isinstance(e, TextMessageContentEvent)
    )
    [(approver,)] = rows(ledger, "SELECT approved_by FROM refunds")
    assert approver == CUSTOMER_USER.name


async def test_an_agui_client_answers_the_question_the_agent_asked(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = guide_client(tmp_path)
    service = Signer.generate()
    trust = ApproverKeys(keys={service.public_key: ["*"]})
    asker = WebUser(
        name="asked@shop.test",
        agents=("order-picker",),
        chat=("order-picker",),
        decide=True,
        password_hash=CUSTOMER_USER.password_hash,
    )
    thread = f"agui-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(scripts=QUESTION_SCRIPTS) as llm:
        async with worker(dev_env.client, QUESTIONS, llm, approver_keys=trust) as w:
            config = WebConfig(
                users={asker.name: asker}, signer=service, task_queue=w.task_queue,
                agents=QUESTIONS,
            )  # fmt: skip
            async with served(create_app(config, client=dev_env.client)) as base:
                http = await client.sign_in(base, asker.name, PASSWORD)
                try:
                    asked = await client.turn(http, "order-picker", client.say(thread, "Hi."))
                    outcome = _finished(asked, "interrupt").outcome
                    assert isinstance(outcome, RunFinishedInterruptOutcome)
                    [interrupt] = outcome.interrupts
                    resumed = await client.turn(
                        http, "order-picker", client.answer(thread, interrupt.id, ORDERS[0])
                    )
                    _finished(resumed, "success")
                finally:
                    await http.aclose()

    assert interrupt.reason == "tether.question" and interrupt.message == WHICH_ORDER
    assert interrupt.response_schema == {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ORDERS}},
        "required": ["answer"],
    }
    results = [e for e in resumed if isinstance(e, ToolCallResultEvent)]
    assert results[0].tool_call_id == interrupt.tool_call_id
    assert json.loads(str(results[0].content)) == {"answer": ORDERS[0], "answered_by": asker.name}
    text = "".join(e.delta for e in resumed if isinstance(e, TextMessageContentEvent))
    assert text == f"You mean order {ORDERS[0]}."


def _finished(events: list[object], outcome: str) -> RunFinishedEvent:
    last = events[-1]
    assert isinstance(last, RunFinishedEvent), last
    assert last.outcome is not None and last.outcome.type == outcome, last
    return last


def test_an_interrupt_says_why_the_approval_policy_asks_a_person() -> None:
    judged = PolicyVerdict(
        rule="refunds",
        action="ask_judge",
        judge=JudgeVerdict(verdict="refuse", reasoning="too much", model="m"),
    )
    call = PendingApproval(
        call_id="c1", tool="issue_refund", arguments="{}", turn=1,
        expires_at=datetime(2027, 1, 1, tzinfo=UTC), policy=judged,
    )  # fmt: skip
    outcome = interrupted([call], "thread", "run").outcome
    assert isinstance(outcome, RunFinishedInterruptOutcome)
    [interrupt] = outcome.interrupts
    assert interrupt.message == (
        "issue_refund({}) waits for a person's decision, asked by the approval policy: "
        "rule 'refunds' (ask judge) · judge m said refuse: too much"
    )
