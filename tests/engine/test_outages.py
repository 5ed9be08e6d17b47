"""A dependency that is down: Tether keeps retrying a tool for about 2.5 minutes by
default (10 attempts, 1 s doubling to 30 s), so an outage of a minute costs the run that
minute; a tool down for longer is told to the model as unavailable, and the run goes on.
The probe's runs failed once a backend was down ~15 s (5 attempts). Time-skipping server:
the retries' backoff passes in no time."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentRun, ToolContext, tool
from tether.testing import ScriptedLLM, call_tools, say, worker
from tether.workflow import AgentWorkflow

# Attempts that fail before the backend is back: about a minute of backoff.
DOWN_FOR = 6


@tool
def flaky(ctx: ToolContext, order: str) -> str:
    """Look an order up in a backend that is down for a while."""
    if ctx.attempt <= DOWN_FOR:
        raise ConnectionError("backend down")
    return f"order {order}: shipped"


@tool
def dead(order: str) -> str:
    """Look an order up in a backend that stays down."""
    raise ConnectionError("backend down")


@tool
def refusing(order: str) -> str:
    """Look an order up in a backend that refuses for good."""
    raise ApplicationError(
        "the backend refused the lookup", type="BackendRefused", non_retryable=True
    )


REGISTRY = AgentRegistry([Agent(name="desk", instructions="Help.", tools=[flaky, dead, refusing])])


async def run_calling(env: WorkflowEnvironment, tool_name: str) -> tuple[str, list[str], int]:
    """A run whose model calls `tool_name`, then answers: its status, what the run
    kept, and how many attempts the tool took."""
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools((tool_name, {"order": "A-1"})), say("done"))
        async with worker(env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                env.client, "desk", "Where is A-1?", id=f"outage-{uuid.uuid4().hex[:8]}",
                task_queue=w.task_queue,
            )  # fmt: skip
            handle = run.handle
            result = await handle.result()
            told = [m.content or "" for m in await handle.query(AgentWorkflow.transcript)]
            attempts = [
                e.activity_task_started_event_attributes.attempt
                async for e in handle.fetch_history_events()
                if e.HasField("activity_task_started_event_attributes")
            ]
    # History records an activity's last attempt only; the model calls took one each.
    return result.status, told, max(attempts)


async def test_a_backend_down_for_a_minute_costs_the_run_that_minute(
    ts_env: WorkflowEnvironment,
) -> None:
    status, told, attempts = await run_calling(ts_env, "flaky")
    assert status == "completed"
    assert "order A-1: shipped" in told
    assert attempts == DOWN_FOR + 1


async def test_a_backend_that_stays_down_is_told_to_the_model(ts_env: WorkflowEnvironment) -> None:
    status, told, attempts = await run_calling(ts_env, "dead")
    assert status == "completed"
    [result] = [t for t in told if t.startswith("Error:")]
    assert result.startswith("Error: the tool dead is unavailable right now")
    # The root cause's type, not "Activity task failed"; not its message, which may
    # quote a customer or a secret (tests/ops/test_secret_leaks.py).
    assert "(ConnectionError)" in result and "backend down" not in result
    assert attempts == 10


async def test_a_failed_run_says_its_root_cause(ts_env: WorkflowEnvironment) -> None:
    """A non-retryable tool error still fails the run (the tool said no retry helps):
    its state, which `tether status` prints, says why, not "Activity task failed"."""
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("refusing", {"order": "A-1"})))
        async with worker(ts_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                ts_env.client, "desk", "Where is A-1?", task_queue=w.task_queue
            )
            with pytest.raises(WorkflowFailureError):
                await run.result()
            state = await run.state()
    assert (state.status, state.error) == (
        "failed",
        "BackendRefused: the backend refused the lookup",
    )
