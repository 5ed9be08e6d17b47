"""Conversations that outgrow the model's context and Temporal's payload limit: a chat of
2,000 messages, some of 100,000 characters, with a context policy. It continues-as-new
many times, each run's carried input stays far under 2 MiB, no model call is sent more
than the policy's budget, and the transcript still returns every message, with notes
where the model's view was compacted (time-skipping server, scripted model over HTTP)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.support.writer_agents import chatter
from tether import Agent, AgentRegistry, AgentRun, ContextPolicy, tool
from tether._limits import PAYLOAD_LIMIT_BYTES
from tether._workflows.context import CHARS_PER_TOKEN, MESSAGE_OVERHEAD, SUMMARY_PROMPT
from tether.testing import ScriptedLLM, Step, call_tools, say, worker

BUDGET = 6_000  # tokens
MESSAGES = 2_000
BURST = 40  # messages sent at once: one turn answers those that queued meanwhile
HUGE = 100_000  # characters, every 100th message
POLICY = ContextPolicy(max_tokens=BUDGET, keep_recent=6)
CHATTER = Agent(
    name="chatter", instructions="Answer briefly.", context=POLICY, continue_as_new_turns=15
)


def text(i: int) -> str:
    return f"m-{i:04d} " + ("x" * (HUGE - 8) if i % 100 == 99 else "a short message")


def sent_tokens(request: Any) -> int:
    """The policy's estimate of a request, measured on the wire (OpenAI's format)."""
    chars = 0
    for m in request.messages:
        chars += len(m.get("content") or "")
        for call in m.get("tool_calls") or []:
            chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD * len(request.messages)


async def test_a_long_chat_stays_within_its_budget_and_keeps_every_message(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(chatter) as llm:
        async with worker(ts_env.client, AgentRegistry([CHATTER]), llm) as w:
            run = await AgentRun.start(
                ts_env.client, CHATTER, "hello", id=f"long-{uuid.uuid4().hex[:8]}",
                task_queue=w.task_queue, chat=True,
            )  # fmt: skip
            handle = run.handle
            replies = []
            for start in range(0, MESSAGES, BURST):
                burst = [run.send(text(i)) for i in range(start, start + BURST)]
                replies += await asyncio.wait_for(asyncio.gather(*burst), 120)
            transcript = await run.transcript()
            runs = [*(await run.state()).earlier_runs, (await handle.describe()).run_id]
            await run.end()
            await asyncio.wait_for(run.result(), 60)
            starts = [await start_input_bytes(ts_env, handle.id, r) for r in runs]
    # Every message is in the transcript, verbatim, burst after burst (within a burst,
    # sends race, so only the burst's set of messages is fixed).
    users = [m.content or "" for m in transcript if m.role == "user"]
    assert users[0] == "hello" and len(users) == MESSAGES + 1
    for start in range(0, MESSAGES, BURST):
        got = users[1 + start : 1 + start + BURST]
        assert sorted(got) == [text(i) for i in range(start, start + BURST)]
    assert any("older messages summarized" in (m.content or "") for m in transcript)
    assert f"echo: {users[-1].split()[0]}" in replies[-BURST:]  # the model saw the last
    # Many runs, each started with far less than the payload limit.
    assert len(runs) >= 5
    assert max(starts) < PAYLOAD_LIMIT_BYTES // 10
    # No model call was sent more than the budget (summaries included).
    assert max(sent_tokens(r) for r in llm.requests) <= BUDGET
    assert sum(r.messages[0]["content"] == SUMMARY_PROMPT for r in llm.requests) >= 1


async def start_input_bytes(env: WorkflowEnvironment, workflow_id: str, run_id: str) -> int:
    handle = env.client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            return event.workflow_execution_started_event_attributes.input.ByteSize()
    raise AssertionError("no start event")


@tool
def report(part: int) -> str:
    """Read one part of the long report."""
    return f"part {part}: " + "y" * 50_000


READER = Agent(
    name="reader",
    instructions="Read the report.",
    tools=[report],
    max_tool_result_bytes=60_000,
    context=ContextPolicy(max_tokens=20_000, keep_recent=2, summarize=False),
)


def reads_three(messages: list[dict[str, Any]]) -> Step:
    done = sum(m["role"] == "tool" for m in messages)
    return call_tools(("report", {"part": done + 1})) if done < 3 else say("read it all")


async def test_older_tool_results_are_elided_for_the_model_and_kept_in_the_transcript(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(reads_three) as llm:
        async with worker(ts_env.client, AgentRegistry([READER]), llm) as w:
            run = await AgentRun.start(ts_env.client, "reader", "go", task_queue=w.task_queue)
            result = await asyncio.wait_for(run.result(), 60)
            transcript = await run.transcript()
    assert result.status == "completed"
    last = [m for m in llm.requests[-1].messages if m["role"] == "tool"]
    assert "[Elided: this tool result was" in last[0]["content"]  # the oldest
    assert len(last[-1]["content"]) > 50_000  # the latest, as it was
    assert max(sent_tokens(r) for r in llm.requests) <= 20_000
    tool_results = [m.content or "" for m in transcript if m.role == "tool"]
    assert all(len(t) > 50_000 for t in tool_results)  # the transcript keeps them whole
    assert any("older tool results elided" in (m.content or "") for m in transcript)
