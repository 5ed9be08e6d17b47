"""How an MCP server's errors reach a run, read from its event feed and history (not
from message texts): a result with `isError` is a failed call (`tool_error`) told to
the model; a JSON-RPC error about the call (invalid params) is too, and is not retried;
a JSON-RPC internal error is the server's, retried per the tool's retry policy until
the call goes through. The test server (tests/support/mcp_server.py) runs as a stdio
subprocess of the worker; time-skipping server, scripted model over HTTP."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import retried_activities
from tests.support.mcp_agents import SERVER, calls, notetaker
from tether import AgentRun, McpServer
from tether._activities.mcp_tools import MAX_RESULT_BLOCKS, outcome_of
from tether._wire import MCP_TOOL_ACTIVITY
from tether.events import RunEvent, ToolCallFinished
from tether.testing import ScriptedLLM, call_tools, say, worker


def failing_notes(notes: Path) -> McpServer:
    return McpServer.stdio(
        "notes",
        [sys.executable, str(SERVER)],
        env={"NOTES_DIR": str(notes), "NOTES_FAILING": "1"},
    )


async def run_calls(
    env: WorkflowEnvironment, notes: Path, *calls_: tuple[str, dict[str, object]]
) -> tuple[AgentRun, list[RunEvent], ScriptedLLM]:
    """One model message making `calls_`, then an answer; the run's events."""
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(*calls_), say("Done."))
        async with worker(env.client, notetaker(failing_notes(notes)), llm) as w:
            run = await AgentRun.start(env.client, "notetaker", "go", task_queue=w.task_queue)
            result = await asyncio.wait_for(run.result(), 120)
            events = [e async for e in run.events()]
    assert result.status == "completed"
    return run, events, llm


def finished(events: list[RunEvent]) -> dict[str, str | None]:
    return {e.tool: e.error for e in events if isinstance(e, ToolCallFinished)}


async def test_an_is_error_result_is_a_failed_call_in_the_event_feed(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    run, events, _ = await run_calls(
        ts_env, tmp_path, ("add_note", {"text": "milk"}), ("find_note", {"number": 7})
    )
    assert finished(events) == {"add_note": None, "find_note": "tool_error"}
    assert await retried_activities(run.handle) == []


async def test_an_invalid_params_error_goes_to_the_model_and_is_not_retried(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    run, events, llm = await run_calls(ts_env, tmp_path, ("forget_note", {"number": 1}))
    assert finished(events) == {"forget_note": "tool_error"}
    assert len(calls(tmp_path, "forget_note")) == 1
    assert await retried_activities(run.handle) == []
    told = [m for m in llm.requests[1].messages if m["role"] == "tool"]
    assert len(told) == 1 and "cannot be forgotten" in told[0]["content"]


async def test_an_internal_error_is_retried_until_the_call_goes_through(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "fail-once").touch()
    run, events, llm = await run_calls(ts_env, tmp_path, ("count_notes", {}))
    assert finished(events) == {"count_notes": None}
    assert len(calls(tmp_path, "count_notes")) == 2
    assert await retried_activities(run.handle) == [(MCP_TOOL_ACTIVITY, 2)]
    assert [m["content"] for m in llm.requests[1].messages if m["role"] == "tool"] == ["0"]


def test_a_flood_of_content_blocks_says_how_many_were_not_read() -> None:
    from mcp.types import CallToolResult, TextContent

    blocks = [TextContent(type="text", text=f"b{i}") for i in range(MAX_RESULT_BLOCKS + 44)]
    outcome = outcome_of(CallToolResult(content=list(blocks)), limit=1_000_000)
    assert outcome.error is None
    assert outcome.content.splitlines()[MAX_RESULT_BLOCKS - 1] == f"b{MAX_RESULT_BLOCKS - 1}"
    assert outcome.content.endswith("[44 more content blocks, not shown]")
