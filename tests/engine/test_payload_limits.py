"""A tool result never fails a run for being too big for Temporal's 2 MiB payloads: a
limit that cannot fit is refused where the tool or agent is defined, and a result that
still would not fit once escaped as JSON is cut further before it leaves the worker."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentRun, tool
from tether._limits import MAX_RESULT_BYTES_LIMIT, PAYLOAD_LIMIT_BYTES
from tether.testing import ScriptedLLM, call_tools, say, worker

FIVE_MB = 5 * 1024 * 1024


def dump(kind: str) -> str:
    """Return five megabytes of the given kind."""
    return ("\x00" if kind == "control" else "x") * FIVE_MB


def test_a_limit_that_cannot_fit_a_payload_is_refused_at_definition() -> None:
    with pytest.raises(ValueError, match="max_result_bytes must be between 1 and 1,048,576"):
        tool(max_result_bytes=8 * 1024 * 1024)(dump)
    with pytest.raises(ValueError, match="max_tool_result_bytes must be between 1 and"):
        Agent(name="big", instructions="x", max_tool_result_bytes=8 * 1024 * 1024)
    assert tool(max_result_bytes=MAX_RESULT_BYTES_LIMIT)(dump).max_result_bytes


@pytest.mark.parametrize("kind", ["text", "control"])
async def test_a_five_megabyte_result_reaches_the_model_cut_and_the_run_completes(
    ts_env: WorkflowEnvironment, kind: str
) -> None:
    agent = Agent(
        name="dumper",
        instructions="Dump.",
        tools=[tool(max_result_bytes=MAX_RESULT_BYTES_LIMIT)(dump)],
    )
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("dump", {"kind": kind})), say("done"))
        async with worker(
            ts_env.client, AgentRegistry([agent]), llm, queue=f"big-{uuid.uuid4().hex[:8]}"
        ) as w:
            run = await AgentRun.start(ts_env.client, "dumper", "go", task_queue=w.task_queue)
            result = await run.result()
            history = [e async for e in run.handle.fetch_history_events()]
    assert result.status == "completed"
    seen = next(m["content"] for m in llm.requests[1].messages if m["role"] == "tool")
    assert f"[Truncated: this result was {FIVE_MB:,} bytes" in seen
    assert len(seen.encode()) <= MAX_RESULT_BYTES_LIMIT + 200
    # The tool's activity completed at its first attempt, its result under the limit.
    completed = [
        e.activity_task_completed_event_attributes.result.payloads[0]
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    assert all(p.ByteSize() < PAYLOAD_LIMIT_BYTES for p in completed)
    assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED for e in history)
