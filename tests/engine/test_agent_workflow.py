"""AgentWorkflow in the time-skipping environment against the scripted LLM over HTTP."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER, count_rows
from tests.support.order_desk import REGISTRY
from tether import AgentResult, AgentRun, Budgets
from tether.testing import ScriptedLLM, approve_all, call_tools, say, worker


async def run_agent(
    env: WorkflowEnvironment,
    llm: ScriptedLLM,
    prompt: str,
    *,
    agent: str = "order-desk",
    approvals: int = 0,
    budgets: Budgets | None = None,
) -> AgentResult:
    """Run `agent` (the order desk) to its end, approving its first `approvals` calls."""
    async with worker(env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(
            env.client, agent, prompt, task_queue=w.task_queue, acting_for=CUSTOMER, budgets=budgets
        )
        if approvals:
            await approve_all(run, approvals)
        return await run.result()


async def test_multi_tool_run_runs_each_tool_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    llm.enqueue(
        call_tools(
            ("lookup_order", {"order_id": "A-1001"}), ("lookup_order", {"order_id": "A-1004"})
        ),
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "arrived broken"})),
        call_tools(("notify", {"to": "ada@example.com", "text": "Refunded."})),
        say("Your teapot is refunded."),
    )

    result = await run_agent(ts_env, llm, "A-1001 arrived broken, refund please", approvals=1)

    assert result.status == "completed"
    assert result.answer == "Your teapot is refunded."
    assert result.turns == 4
    assert llm.request_count == 4
    assert count_rows(ledger, "refunds") == 1
    assert count_rows(ledger, "notices") == 1
    # Two calls in one message: both results come back, in the model's order.
    second = llm.requests[1].messages
    tool_messages = [m for m in second if m["role"] == "tool"]
    assert [json.loads(m["content"])["order_id"] for m in tool_messages] == ["A-1001", "A-1004"]
    # Usage is the sum of what the server reported for each call.
    assert result.usage.total_tokens == sum(llm.reported_total_tokens)


async def test_max_turns_stops_a_model_that_never_finishes(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM(lambda _: call_tools(("lookup_order", {"order_id": "A-1001"}))) as llm:
        result = await run_agent(ts_env, llm, "loop forever", budgets=Budgets(max_turns=3))
    assert result.status == "max_turns"
    assert result.answer is None
    assert result.turns == 3
    assert llm.request_count == 3


async def test_bad_tool_calls_go_back_to_the_model(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
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
    result = await run_agent(ts_env, llm, "cancel A-1001")

    assert result.status == "completed"
    tool_results = [m["content"] for m in llm.requests[1].messages if m["role"] == "tool"]
    assert len(tool_results) == 4
    assert "no tool named 'cancel_order'" in tool_results[0]
    assert "not valid JSON" in tool_results[1]
    assert "order_id: Field required" in tool_results[2]
    assert "order 'Z-9999' not found" in tool_results[3]


async def test_unknown_agent_fails_fast(ts_env: WorkflowEnvironment, llm: ScriptedLLM) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await run_agent(ts_env, llm, "hi", agent="no-such-agent")
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UnknownAgent"
    assert "this worker serves: order-desk, order-triage" in cause.message
    assert llm.request_count == 0


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"agent": "order-desk", "prompt": ""},
            "prompt: String should have at least 1 character",
        ),
        ({"agent": "order-desk"}, "prompt: Field required"),
        ({"agent": "order-desk", "prompt": "hi", "max_turns": 0}, "max_turns: Input should be"),
    ],
)
async def test_invalid_input_fails_the_run_at_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, raw: dict[str, object], problem: str
) -> None:
    # A raw start, as if by another client (the temporal CLI, another SDK) without
    # AgentRun's checks: the run must fail, not retry its first task forever.
    async with worker(ts_env.client, REGISTRY, llm) as w:
        handle = await ts_env.client.start_workflow(
            "AgentWorkflow", raw, id=f"bad-{uuid.uuid4()}", task_queue=w.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidInput", True)
    assert problem in cause.message
    assert llm.request_count == 0
