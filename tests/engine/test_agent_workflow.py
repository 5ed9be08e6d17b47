"""AgentWorkflow in the time-skipping environment against the scripted LLM over HTTP."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from support_desk.offline import support_desk_responder
from tests.support.approvals import approve_all
from tests.support.shop import CUSTOMER, count_rows, running_worker
from tether import AgentResult
from tether._run_io import AgentInput
from tether.testing import ScriptedLLM, call_tools, say
from tether.workflow import AgentWorkflow


async def run_agent(
    env: WorkflowEnvironment, llm: ScriptedLLM, *, approvals: int = 0, **kwargs: object
) -> AgentResult:
    """Run the support desk to its end, approving its first `approvals` refund calls."""
    params = AgentInput.model_validate({"agent": "support-desk", "acting_for": CUSTOMER, **kwargs})
    async with running_worker(env.client, llm) as worker:
        handle = await env.client.start_workflow(
            AgentWorkflow.run, params, id=f"wf-{uuid.uuid4()}", task_queue=worker.task_queue
        )
        if approvals:
            await approve_all(handle, approvals)
        return await handle.result()


async def test_multi_tool_run_runs_each_tool_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, shop_db: Path
) -> None:
    llm.enqueue(
        call_tools(("lookup_order", {"order_id": "A-1001"}), ("get_refund_policy", {})),
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "arrived broken"})),
        call_tools(("send_email", {"to": "ada@example.com", "subject": "Refund", "body": "Done."})),
        say("Your teapot is refunded."),
    )

    result = await run_agent(
        ts_env, llm, approvals=1, prompt="A-1001 arrived broken, refund please"
    )

    assert result.status == "completed"
    assert result.answer == "Your teapot is refunded."
    assert result.turns == 4
    assert llm.request_count == 4
    assert count_rows(shop_db, "refunds") == 1
    assert count_rows(shop_db, "outbox") == 1
    # Two calls in one message: both results come back, in the model's order.
    second = llm.requests[1].messages
    tool_messages = [m for m in second if m["role"] == "tool"]
    assert [json.loads(tool_messages[0]["content"])["order_id"]] == ["A-1001"]
    assert tool_messages[1]["content"].startswith("Refund policy:")
    # Usage is the sum of what the server reported for each call.
    assert result.usage.total_tokens == sum(llm.reported_total_tokens)


async def test_demo_conversation_refunds_and_emails_once(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    with ScriptedLLM(support_desk_responder) as llm:
        result = await run_agent(
            ts_env, llm, approvals=1, prompt="Order A-1001 arrived broken, I want my money back."
        )
    assert result.status == "completed"
    assert result.answer is not None and "refunded $42.00" in result.answer
    assert "offline scripted model" in result.answer
    # lookup, policy, refund, email, answer
    assert llm.request_count == 5
    assert count_rows(shop_db, "refunds") == 1
    assert count_rows(shop_db, "outbox") == 1


async def test_max_turns_stops_a_model_that_never_finishes(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    with ScriptedLLM(lambda _: call_tools(("lookup_order", {"order_id": "A-1001"}))) as llm:
        result = await run_agent(ts_env, llm, prompt="loop forever", max_turns=3)
    assert result.status == "max_turns"
    assert result.answer is None
    assert result.turns == 3
    assert llm.request_count == 3


async def test_bad_tool_calls_go_back_to_the_model(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, shop_db: Path
) -> None:
    # lookup_order is a fast tool: these bad calls go through a local activity.
    llm.enqueue(
        call_tools(
            ("cancel_order", {"order_id": "A-1001"}),
            ("lookup_order", "{not json"),
            ("lookup_order", {"order": "A-1001"}),
            ("lookup_order", {"order_id": "Z-9999"}),
        ),
        say("Sorry, I could not do that."),
    )
    result = await run_agent(ts_env, llm, prompt="cancel A-1001")

    assert result.status == "completed"
    tool_results = [m["content"] for m in llm.requests[1].messages if m["role"] == "tool"]
    assert len(tool_results) == 4
    assert "no tool named 'cancel_order'" in tool_results[0]
    assert "not valid JSON" in tool_results[1]
    assert "order_id: Field required" in tool_results[2]
    assert "order 'Z-9999' not found" in tool_results[3]


async def test_unknown_agent_fails_fast(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, shop_db: Path
) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await run_agent(ts_env, llm, agent="no-such-agent", prompt="hi")
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UnknownAgent"
    assert "this worker serves: refund-triage, refund-writer, support-desk" in cause.message
    assert llm.request_count == 0


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"agent": "support-desk", "prompt": ""},
            "prompt: String should have at least 1 character",
        ),
        ({"agent": "support-desk"}, "prompt: Field required"),
        ({"agent": "support-desk", "prompt": "hi", "max_turns": 0}, "max_turns: Input should be"),
    ],
)
async def test_invalid_input_fails_the_run_at_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, raw: dict[str, object], problem: str
) -> None:
    # As if started by another client (the temporal CLI, another SDK) without the
    # starter's checks: the run must fail, not retry its first task forever.
    async with running_worker(ts_env.client, llm) as worker:
        handle = await ts_env.client.start_workflow(
            "AgentWorkflow", raw, id=f"bad-{uuid.uuid4()}", task_queue=worker.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidInput", True)
    assert problem in cause.message
    assert llm.request_count == 0
