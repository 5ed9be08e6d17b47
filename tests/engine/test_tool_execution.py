"""How AgentWorkflow runs tools: in parallel, as local activities when fast, once under
retries, truncated when big, on a durable timer for `wait`, and cancelled with the run.

Real components throughout: the project's worker with test agents, the scripted model
over HTTP spoken to by the openai client, and Temporal's test or dev server.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.support.ledger import CUSTOMER, count_rows
from tests.support.order_desk import (
    ORDER_DESK,
    REGISTRY,
    Notice,
    issue_refund,
    lookup_order,
    notify,
)
from tests.support.order_flow import Refund
from tests.support.waiting import activities_when
from tether import (
    WAIT,
    Agent,
    AgentRegistry,
    AgentResult,
    AgentRun,
    Tool,
    ToolContext,
    ToolError,
    tool,
)
from tether._wire import TOOL_ACTIVITY
from tether.testing import CallTools, ScriptedLLM, approve_all, call_tools, say, worker
from tether.workflow import AgentWorkflow

RETRY_SOON = RetryPolicy(initial_interval=timedelta(seconds=0.1))


Handle = WorkflowHandle[AgentWorkflow, AgentResult]


async def run(
    client: Client, llm: ScriptedLLM, agent: Agent | None = None, *, approvals: int = 0
) -> tuple[AgentResult, Handle]:
    """Run `agent` (default: the order desk) to its end, approving its first
    `approvals` calls that need a person."""
    agents = AgentRegistry([agent]) if agent else REGISTRY
    async with worker(client, agents, llm) as w:
        run = await AgentRun.start(
            client, agent or ORDER_DESK, "help", task_queue=w.task_queue, acting_for=CUSTOMER
        )
        handle = run.handle
        if approvals:
            await approve_all(run, approvals)
        return await handle.result(), handle


async def events(handle: Handle) -> list[HistoryEvent]:
    return [e async for e in handle.fetch_history_events()]


def of_type(history: list[HistoryEvent], kind: EventType.ValueType) -> list[HistoryEvent]:
    return [e for e in history if e.event_type == kind]


def tool_results(llm: ScriptedLLM, request: int) -> list[str]:
    """The tool results the model saw in its `request`-th call."""
    return [m["content"] for m in llm.requests[request].messages if m["role"] == "tool"]


def tool_activities(history: list[HistoryEvent]) -> dict[int, str]:
    """Scheduled event id -> tool name, for the tools that ran as regular activities."""
    names = {}
    for e in of_type(history, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED):
        attrs = e.activity_task_scheduled_event_attributes
        if attrs.activity_type.name == TOOL_ACTIVITY:
            names[e.event_id] = json.loads(attrs.input.payloads[0].data)["call"]["name"]
    return names


def scheduled_tools(history: list[HistoryEvent]) -> list[str]:
    return list(tool_activities(history).values())


def meeting_tool(name: str, barrier: asyncio.Barrier, delay: float, *, fast: bool) -> Tool:
    """A tool that can only succeed while two others run at the same time."""

    async def meet() -> str:
        try:
            await asyncio.wait_for(barrier.wait(), timeout=5)
        except TimeoutError:
            raise ToolError(f"{name} ran alone: the calls did not overlap") from None
        await asyncio.sleep(delay)  # finish in another order than called
        return f"{name} met the others"

    return Tool(meet, name=name, description="Meet the other tools.", fast=fast)


@pytest.mark.parametrize("fast", [False, True], ids=["activities", "local-activities"])
async def test_parallel_calls_overlap_and_come_back_in_order(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, fast: bool
) -> None:
    barrier = asyncio.Barrier(3)
    delays = {"first": 0.3, "second": 0.15, "third": 0.0}
    tools = [meeting_tool(name, barrier, d, fast=fast) for name, d in delays.items()]
    llm.enqueue(call_tools(*((name, {}) for name in delays)), say("All met."))

    result, handle = await run(ts_env.client, llm, Agent("meeting", "Meet.", tools=tools))
    history = await events(handle)

    assert result.status == "completed"
    assert tool_results(llm, 1) == [f"{name} met the others" for name in delays]
    assert len(scheduled_tools(history)) == (0 if fast else 3)


async def test_fast_tools_run_as_local_activities(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        call_tools(
            ("lookup_order", {"order_id": "A-1001"}), ("lookup_order", {"order_id": "A-1004"})
        ),
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"})),
        say("Refunded."),
    )
    _, handle = await run(ts_env.client, llm, approvals=1)
    history = await events(handle)
    # lookup_order is fast: markers, not scheduled activities.
    assert scheduled_tools(history) == ["issue_refund"]
    markers = of_type(history, EventType.EVENT_TYPE_MARKER_RECORDED)
    local = [m for m in markers if m.marker_recorded_event_attributes.marker_name != "core_patch"]
    assert len(local) == 2  # the two lookups (the spec: a regular activity)
    assert json.loads(tool_results(llm, 1)[0])["order_id"] == "A-1001"


async def test_bad_calls_to_fast_and_regular_tools_go_back_to_the_model(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    agent = Agent("strict-desk", "Help.", tools=[lookup_order, issue_refund, WAIT])
    llm.enqueue(
        call_tools(
            ("lookup_order", '{"order_id": "A-1'),  # fast, but regular beside an approval
            ("lookup_order", {"order_id": 1001}),
            ("issue_refund", {"order_id": "A-1003"}),  # refused before anyone is asked
            ("issue_refund", {"order_id": "A-1003", "reason": "late"}),  # regular activity
            ("wait", {"hours": 24 * 31, "reason": "check again"}),  # the workflow's own
            ("wait", "[]"),
            ("teleport", {}),
        ),
        say("Sorry."),
    )

    result, handle = await run(ts_env.client, llm, agent, approvals=1)
    history = await events(handle)

    assert result.status == "completed"
    seen = tool_results(llm, 1)
    assert "not valid JSON" in seen[0]
    assert "order_id: Input should be a valid string" in seen[1]
    assert "the arguments are refused: reason: required" in seen[2]
    assert "order A-1003 is shipped, not delivered yet" in seen[3]
    assert "hours: Input should be less than or equal to 720" in seen[4]
    assert "invalid arguments for wait" in seen[5]
    assert "no tool named 'teleport'. Available tools: lookup_order, issue_refund, wait" in seen[6]
    # In a turn where calls wait for a person, fast tools run as regular activities too.
    assert scheduled_tools(history) == [
        "lookup_order",
        "lookup_order",
        "issue_refund",
    ]
    # The bad waits started no timer: the only timer is the one approval's timeout.
    timers = of_type(history, EventType.EVENT_TYPE_TIMER_STARTED)
    assert [t.timer_started_event_attributes.start_to_fire_timeout.ToSeconds() for t in timers] == [
        24 * 3600
    ]


def crash_on_first_attempt(ctx: ToolContext) -> None:
    if ctx.attempt == 1:
        raise ConnectionError("connection lost after the write committed")


@tool(name="issue_refund", side_effects=True, retry=RETRY_SOON)
def refund_then_crash(ctx: ToolContext, order_id: str, reason: str) -> Refund:
    """Refund an order, then lose the connection on the first attempt."""
    refund: Refund = issue_refund.fn(ctx, order_id, reason)
    crash_on_first_attempt(ctx)
    return refund


@tool(name="notify", side_effects=True, retry=RETRY_SOON)
def notify_then_crash(ctx: ToolContext, to: str, text: str) -> Notice:
    """Send a notice, then lose the connection on the first attempt."""
    receipt: Notice = notify.fn(ctx, to, text)
    crash_on_first_attempt(ctx)
    return receipt


async def test_side_effects_happen_once_when_a_tool_fails_after_committing(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    agent = Agent("flaky-desk", "Help.", tools=[refund_then_crash, notify_then_crash])
    llm.enqueue(
        call_tools(
            ("issue_refund", {"order_id": "A-1001", "reason": "broken"}),
            ("notify", {"to": "ada@example.com", "text": "Refunded."}),
        ),
        say("Refunded and notified."),
    )

    result, handle = await run(ts_env.client, llm, agent)
    history = await events(handle)

    assert result.status == "completed"
    assert count_rows(ledger, "refunds") == 1
    assert count_rows(ledger, "notices") == 1
    # Each tool ran twice (the first attempt crashed after its write) ...
    tools = tool_activities(history)
    attempts = {
        tools[e.activity_task_started_event_attributes.scheduled_event_id]: (
            e.activity_task_started_event_attributes.attempt
        )
        for e in of_type(history, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
        if e.activity_task_started_event_attributes.scheduled_event_id in tools
    }
    assert attempts == {"issue_refund": 2, "notify": 2}
    # ... and the model saw the first write's result, not an error.
    refund, notice = (json.loads(r) for r in tool_results(llm, 1))
    assert (refund["refund_id"], refund["amount"], notice["notice_id"]) == (1, 42.0, 1)
    # The history replays against the current code: the keys are stable on replay too.
    replayer = Replayer(workflows=[AgentWorkflow], data_converter=ts_env.client.data_converter)
    await replayer.replay_workflow(await handle.fetch_history())


# Refunds without a person, from a provider that numbers calls per message.
REUSING_DESK = Agent("reusing-desk", "Help.", tools=[tool(side_effects=True)(issue_refund.fn)])


def refund_as_call_0(order: str) -> CallTools:
    return call_tools(("issue_refund", {"order_id": order, "reason": "broken"}), ids=["call_0"])


def refunded_orders(ledger: Path) -> list[str]:
    with sqlite3.connect(ledger) as db:
        return sorted(row[0] for row in db.execute("SELECT order_id FROM refunds"))


async def test_a_call_id_reused_in_a_later_message_is_a_new_call(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # The second refund must not be taken for a retry of the first: the idempotency
    # key holds the turn for this.
    llm.enqueue(refund_as_call_0("A-1001"), refund_as_call_0("A-1004"), say("Both refunded."))

    result, _ = await run(ts_env.client, llm, REUSING_DESK)

    assert result.status == "completed"
    called = [m["tool_calls"][0]["id"] for m in llm.requests[2].messages if m.get("tool_calls")]
    assert called == ["call_0", "call_0"]
    assert refunded_orders(ledger) == ["A-1001", "A-1004"]


async def test_two_runs_with_the_same_call_ids_act_each_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # Same turn, same call id, same ledger: only the run's id tells the keys apart.
    llm.enqueue(refund_as_call_0("A-1001"), say("Refunded."))
    await run(ts_env.client, llm, REUSING_DESK)
    llm.enqueue(refund_as_call_0("A-1004"), say("Refunded."))
    await run(ts_env.client, llm, REUSING_DESK)

    assert refunded_orders(ledger) == ["A-1001", "A-1004"]


async def test_wait_is_a_durable_timer_that_time_skipping_fires_at_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    agent = Agent("patient", "Check deliveries.", tools=[WAIT])
    llm.enqueue(call_tools(("wait", {"hours": 48, "reason": "check the carrier"})), say("Done."))

    result, handle = await run(ts_env.client, llm, agent)

    assert result.status == "completed"
    assert tool_results(llm, 1)[0].startswith("Waited 48 hours (check the carrier). It is now")
    history = await events(handle)
    (timer,) = of_type(history, EventType.EVENT_TYPE_TIMER_STARTED)
    assert timer.timer_started_event_attributes.start_to_fire_timeout.ToSeconds() == 48 * 3600
    assert scheduled_tools(history) == []  # no activity waits
    # Two days passed on the run's clock; slept for real, the test's timeout would end it.
    (fired,) = of_type(history, EventType.EVENT_TYPE_TIMER_FIRED)
    waited = fired.event_time.ToDatetime() - timer.event_time.ToDatetime()
    assert waited >= timedelta(hours=48)


def big_tool(name: str, size: int, char: str = "x", **options: Any) -> Tool:
    def dump() -> str:
        return char * size

    return Tool(dump, name=name, description="Dump a lot of text.", **options)


async def test_big_results_are_truncated_before_they_reach_history(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    tools = [
        big_tool("huge", 100_000),
        big_tool("chatty", 5_000, max_result_bytes=1_000),
        # 1,500 characters but 3,000 bytes: the limit counts what is stored, bytes.
        big_tool("accented", 1_500, "é", max_result_bytes=2_000),
    ]
    agent = Agent("dumper", "Dump.", tools=tools, max_tool_result_bytes=20_000)
    llm.enqueue(call_tools(("huge", {}), ("chatty", {}), ("accented", {})), say("Too much."))

    _, handle = await run(ts_env.client, llm, agent)

    huge, chatty, accented = tool_results(llm, 1)
    assert huge.startswith("x" * 20_000 + "\n\n[Truncated: this result was 100,000 bytes")
    assert chatty.startswith("x" * 1_000 + "\n\n[Truncated: this result was 5,000 bytes")
    assert accented.startswith("é" * 1_000 + "\n") and accented.count("é") == 1_000
    completed = of_type(await events(handle), EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    assert max(e.activity_task_completed_event_attributes.ByteSize() for e in completed) < 21_000


def crawler(started: asyncio.Event, seen: list[str]) -> Tool:
    """A long tool that reports progress and records how it ended."""

    async def crawl(ctx: ToolContext) -> str:
        started.set()
        try:
            for page in range(1, 600):
                ctx.heartbeat({"page": page})
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("finished")
        return "crawled everything"

    return Tool(crawl, description="Crawl the web.", heartbeat_timeout=timedelta(seconds=1))


async def test_cancelling_a_run_cancels_its_heartbeating_tool(
    dev_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    started = asyncio.Event()
    seen: list[str] = []
    agent = Agent("crawler", "Crawl.", tools=[crawler(started, seen)])
    llm.enqueue(call_tools(("crawl", {})), say("Crawled."))
    client = dev_env.client
    async with worker(client, AgentRegistry([agent]), llm) as w:
        handle = (await AgentRun.start(client, agent, "crawl", task_queue=w.task_queue)).handle
        await asyncio.wait_for(started.wait(), timeout=10)
        progress = await wait_for_progress(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()

    assert isinstance(failure.value.cause, CancelledError)
    assert progress["page"] >= 1
    # The run waited for the tool to stop: by the time it ended, the tool had seen it.
    assert seen == ["cancelled"]
    history = await events(handle)
    assert of_type(history, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
    assert of_type(history, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)


async def wait_for_progress(handle: Handle) -> dict[str, Any]:
    """The progress a running tool reported, once a heartbeat has carried it to Temporal."""

    [activity, *_] = await activities_when(
        handle,
        lambda found: bool(found and found[0].heartbeat_details.payloads),
        "the tool's progress never reached Temporal",
        within=10,
        every=0.1,
    )
    details: dict[str, Any] = json.loads(activity.heartbeat_details.payloads[0].data)
    return details
