"""What the model is sent when a context policy compacts a conversation: whatever the
conversation and the policy, the kept window never starts with, or holds, a tool result
whose call was left out (providers refuse that; parallel calls at the boundary are the
case), no call is kept without its results, the instructions are never cut or dropped,
and the transcript keeps every message. Property tests over generated conversations
(context.fit, the workflow's own steps), and a run through the workflow."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentRun, ContextPolicy, tool
from tether._messages import Message, ToolCall
from tether._workflows import context
from tether._workflows.context import (
    CHARS_PER_TOKEN,
    MESSAGE_OVERHEAD,
    SUMMARY_PROMPT,
    estimate,
    fit,
    recent_start,
    summary_request,
)
from tether._workflows.run_state import Conversation
from tether.testing import ScriptedLLM, Step, call_tools, say, worker

INSTRUCTIONS = "You are a careful assistant. " * 40  # 1,160 characters, longer than a cut


@pytest.fixture(autouse=True)
def plain_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """context.fit logs through the workflow's logger, which needs a workflow: outside
    one, a plain logger."""
    monkeypatch.setattr(context, "log", logging.getLogger("tests.context"))


def exchange(draw: st.DrawFn, n: int) -> list[Message]:
    """A user message, then rounds of parallel tool calls with their results (in any
    order, as providers return them), then an answer."""
    text = st.text(alphabet="abc xyz", min_size=0, max_size=3000)
    out = [Message.user(f"u{n} " + draw(text))]
    for r in range(draw(st.integers(0, 3))):
        ids = [f"c{n}-{r}-{i}" for i in range(draw(st.integers(1, 4)))]
        calls = [ToolCall(id=i, name="look", arguments='{"q": "' + i + '"}') for i in ids]
        out.append(Message(role="assistant", content=None, tool_calls=calls))
        for i in draw(st.permutations(ids)):
            out.append(Message.tool(i, f"result {i} " + draw(text)))
    out.append(Message(role="assistant", content=f"a{n} " + draw(text)))
    return out


@st.composite
def conversations(draw: st.DrawFn) -> list[list[Message]]:
    return [exchange(draw, n) for n in range(draw(st.integers(1, 6)))]


policies = st.builds(
    ContextPolicy,
    max_tokens=st.integers(50, 3000),
    keep_recent=st.integers(1, 12),
    tool_result_chars=st.integers(100, 1000),
    summarize=st.booleans(),
)


def check_window(view: list[Message]) -> None:
    """What a provider accepts, and what the policy promises about the instructions."""
    assert view[0].role == "system" and view[0].content == INSTRUCTIONS
    called: set[str] = set()
    for i, m in enumerate(view[1:], start=1):
        if m.role == "tool":
            assert m.tool_call_id in called, f"message {i}: a result whose call is not kept"
        if m.tool_calls:
            called = {c.id for c in m.tool_calls}
            answered = {r.tool_call_id for r in view[i + 1 : i + 1 + len(called)]}
            assert answered == called, f"message {i}: a call kept without all its results"
        elif m.role != "tool":
            called = set()
    assert view[1].role != "tool"


async def summarize(request: list[Message]) -> str | None:
    assert request[0].content == SUMMARY_PROMPT
    return "what happened before"


async def no_summary(request: list[Message]) -> str | None:
    return None  # the summarizing call failed: the older messages are dropped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exchanges=conversations(), policy=policies, summarizes=st.booleans())
def test_a_compacted_window_is_one_a_provider_accepts_and_keeps_the_instructions(
    exchanges: list[list[Message]], policy: ContextPolicy, summarizes: bool
) -> None:
    conversation = Conversation()
    conversation.add(Message.system(INSTRUCTIONS))
    every = [conversation.messages[0]]
    for turn, messages in enumerate(exchanges, start=1):
        # Fitted before each user message's turn, as the workflow does, so a window
        # compacted once is compacted again later.
        conversation.add(*messages)
        every += messages
        asyncio.run(fit(policy, conversation, turn, summarize if summarizes else no_summary))
        check_window(conversation.messages)
    kept = [m for m in conversation.transcript if not (m.content or "").startswith("[Compacted")]
    assert kept == every


@given(exchanges=conversations(), keep_recent=st.integers(1, 12))
def test_the_recent_messages_start_at_a_call_not_at_its_results(
    exchanges: list[list[Message]], keep_recent: int
) -> None:
    view = [Message.system(INSTRUCTIONS), *(m for e in exchanges for m in e)]
    start = recent_start(ContextPolicy(max_tokens=1, keep_recent=keep_recent), view)
    assert 1 <= start <= max(1, len(view) - keep_recent)
    assert view[start].role != "tool"
    check_window([view[0], *view[start:]])


def test_parallel_calls_at_the_boundary_stay_with_their_call() -> None:
    # keep_recent=2 lands on the second of three results: the window must start at the
    # assistant message that made the three calls.
    calls = [ToolCall(id=f"c{i}", name="look", arguments="{}") for i in range(3)]
    view = [
        Message.system(INSTRUCTIONS),
        Message.user("first " + "x" * 4000),
        Message(role="assistant", content=None, tool_calls=calls),
        *(Message.tool(f"c{i}", "r" * 2000) for i in range(3)),
    ]
    assert recent_start(ContextPolicy(max_tokens=1, keep_recent=2), view) == 2
    conversation = Conversation()
    conversation.add(*view)
    asyncio.run(fit(ContextPolicy(max_tokens=300, keep_recent=2), conversation, 2, summarize))
    check_window(conversation.messages)


def test_the_instructions_are_never_cut_however_long() -> None:
    long_instructions = Message.system("Rule. " * 5000)
    conversation = Conversation()
    conversation.add(long_instructions, Message.user("hi " * 3000))
    asyncio.run(fit(ContextPolicy(max_tokens=100, keep_recent=1), conversation, 1, summarize))
    assert conversation.messages[0] == long_instructions
    assert "[Cut:" in (conversation.messages[1].content or "")


# Through the workflow: a model that calls tools three at a time, under a tight budget.
@tool
def look(q: str) -> str:
    """Look something up."""
    return f"{q}: " + "found " * 400


def parallel() -> Any:
    """Three calls at a time, four times, then an answer (summary requests answered)."""
    turns = iter(range(100))

    def respond(messages: list[dict[str, Any]]) -> Step:
        if messages[0]["content"] == SUMMARY_PROMPT:
            return say("earlier lookups found things")
        turn = next(turns)
        if turn >= 4:
            return say("done")
        return call_tools(*(("look", {"q": f"q{turn}-{i}"}) for i in range(3)))

    return respond


async def test_every_request_the_model_gets_keeps_calls_and_results_together(
    ts_env: WorkflowEnvironment,
) -> None:
    agent = Agent(
        name="looker",
        instructions=INSTRUCTIONS,
        tools=[look],
        context=ContextPolicy(max_tokens=1500, keep_recent=2, tool_result_chars=200),
    )
    with ScriptedLLM(parallel()) as llm:
        async with worker(
            ts_env.client, AgentRegistry([agent]), llm, queue=f"fit-{uuid.uuid4().hex[:8]}"
        ) as w:
            run = await AgentRun.start(ts_env.client, "looker", "look", task_queue=w.task_queue)
            result = await run.result()
    assert result.status == "completed"
    requests = [r for r in llm.requests if r.messages[0]["content"] != SUMMARY_PROMPT]
    assert len(requests) >= 4
    for request in requests:
        view = [Message.model_validate(wire(m)) for m in request.messages]
        check_window(view)


def wire(m: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-format message as a Tether message."""
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in m.get("tool_calls") or []
    ]
    return {
        "role": m["role"],
        "content": m.get("content"),
        "tool_calls": calls,
        "tool_call_id": m.get("tool_call_id"),
    }


def test_a_messages_tool_calls_count_in_its_estimate() -> None:
    call = ToolCall(id="c1", name="lookup_order", arguments='{"order_id": "A-1001"}')
    calling = Message(role="assistant", content="let me look", tool_calls=[call])
    chars = len("let me look") + len(call.name) + len(call.arguments)
    assert estimate([calling]) == chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD


def test_a_conversation_within_its_budget_is_sent_as_it_is() -> None:
    long_result = Message.tool("c1", "r" * 5000)  # over tool_result_chars, under budget
    call = ToolCall(id="c1", name="look", arguments="{}")
    messages = [
        Message.system(INSTRUCTIONS),
        Message.user("look"),
        Message(role="assistant", content=None, tool_calls=[call]),
        long_result,
        *(Message.user(f"more {i}") for i in range(10)),
    ]
    conversation = Conversation()
    conversation.add(*messages)
    conversation.sent = len(messages)
    policy = ContextPolicy(max_tokens=100_000, keep_recent=2, tool_result_chars=100)
    asyncio.run(fit(policy, conversation, 1, summarize))
    assert conversation.messages == messages
    assert conversation.transcript == messages  # no compaction noted
    assert conversation.sent == len(messages)  # nothing to send again


def test_a_summary_is_asked_of_the_newest_older_messages_that_fit_in_order() -> None:
    # Newest first until one does not fit: nothing older than it is sent, even if short.
    older = [Message.user("oldest short"), Message.user("x" * 50_000), Message.user("newest")]
    [prompt, request] = summary_request(older, ContextPolicy(max_tokens=100))
    assert prompt.content == SUMMARY_PROMPT
    text = request.content or ""
    assert "newest" in text and "oldest short" not in text
    assert text.count("earlier messages omitted") == 1
