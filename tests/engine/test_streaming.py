"""Streaming: a run's events, as a subscriber reads them, on a real dev server, through
Tether's worker and the real `openai` client against the scripted model over HTTP
(which streams server-sent events, paced, held or broken off as each test needs)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.workflow_streams import PollInput, PollResult
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from tests.support.history_reading import PUBLISH_SIGNAL, retried_activities
from tests.support.ledger import CUSTOMER
from tests.support.order_desk import ORDER_DESK, REGISTRY, SCRIPTS, refund_prompt
from tests.support.waiting import until
from tests.support.writer_agents import AGENTS, ANSWER
from tether import AgentRun
from tether._activities.llm import LlmActivities, make_client
from tether._activities.specs import RecordedSpecs
from tether._messages import Message
from tether._subscribe import POLL_QUERY
from tether._wire import LlmRequest
from tether.events import ApprovalDecided, Reply, RunEnded, RunEvent, TextDelta
from tether.testing import (
    SIGNER,
    ScriptedLLM,
    Streamed,
    call_tools,
    llm_settings,
    say,
    worker,
)

WITHIN = 60.0


async def events_until_end(
    feed: AsyncIterator[RunEvent], each: Callable[[RunEvent], Awaitable[None]] | None = None
) -> list[RunEvent]:
    """Every event of `feed`, to the run's end (within a minute); `each` sees each one
    as it comes."""
    events: list[RunEvent] = []
    async with asyncio.timeout(WITHIN):
        async for event in feed:
            events.append(event)
            if each is not None:
                await each(event)
    return events


async def start_watched(client: Client, agent: str, queue: str) -> AgentRun:
    """A run of `agent` with the question every test asks, watched from its start."""
    return await AgentRun.start(client, agent, "Where is A-1003?", task_queue=queue, watch=True)


def turn_texts(events: list[RunEvent]) -> dict[int, str]:
    """Each turn's text as a subscriber shows it: the deltas since the latest restart."""
    texts: dict[int, str] = {}
    for e in events:
        if isinstance(e, TextDelta):
            texts[e.turn] = e.text if e.restart else texts.get(e.turn, "") + e.text
    return texts


Step = tuple[str, int | None, str | None]


def model_call(turn: int) -> list[Step]:
    return [("turn_started", turn, None), ("reply", turn, None)]


def tool_call(turn: int, tool: str) -> list[Step]:
    return [("tool_call_started", turn, tool), ("tool_call_finished", turn, tool)]


async def publish_signals(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(
        e.workflow_execution_signaled_event_attributes.signal_name == PUBLISH_SIGNAL
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    )


async def llm_completed(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether a model call of the run has completed (other activities do not count)."""
    history = await handle.fetch_history()
    llm = {
        e.event_id
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "tether.llm"
    }
    return any(
        e.activity_task_completed_event_attributes.scheduled_event_id in llm
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
    )


async def test_the_deltas_join_to_exactly_the_answer(dev_env: WorkflowEnvironment) -> None:
    resume = threading.Event()
    with ScriptedLLM() as llm:
        llm.enqueue(Streamed(say(ANSWER), delay=0.01, pause_after=6, resume=resume))
        async with worker(dev_env.client, AGENTS, llm) as w:
            run = await start_watched(dev_env.client, "writer", w.task_queue)

            async def check_held(event: RunEvent) -> None:
                if isinstance(event, TextDelta) and not resume.is_set():
                    # The model is still writing (it is held), and the text is here.
                    assert not await llm_completed(run.handle)
                    resume.set()

            events = await events_until_end(run.events(), check_held)
            result = await run.result()
    assert result.answer == ANSWER
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2 and all(d.attempt == 1 and not d.restart for d in deltas)
    assert "".join(d.text for d in deltas) == ANSWER
    [reply] = [e for e in events if isinstance(e, Reply)]
    assert reply.text == ANSWER
    assert events[-1] == RunEnded(
        workflow_id=run.id, seq=len(events) - 1, status="completed", answer=ANSWER
    )
    assert [e.seq for e in events] == list(range(len(events)))
    assert llm.requests[0].stream
    assert await publish_signals(run.handle) >= 2


async def test_a_stream_broken_mid_reply_is_retried_and_shows_one_clean_answer(
    dev_env: WorkflowEnvironment,
) -> None:
    seen_first_attempt = threading.Event()
    with ScriptedLLM() as llm:
        llm.enqueue(
            # Held until the subscriber has seen its text, then broken off.
            Streamed(
                say(ANSWER), delay=0.01, pause_after=4, resume=seen_first_attempt, drop_after=8
            ),
            Streamed(say(ANSWER), delay=0.01),
        )
        async with worker(dev_env.client, AGENTS, llm) as w:
            run = await start_watched(dev_env.client, "writer", w.task_queue)

            async def release(event: RunEvent) -> None:
                if isinstance(event, TextDelta):
                    seen_first_attempt.set()

            events = await events_until_end(run.events(), release)
            result = await run.result()
            retried = await retried_activities(run.handle)
    assert result.answer == ANSWER and llm.request_count == 2
    assert retried == [("tether.llm", 2)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas[0].attempt == 1 and deltas[-1].attempt == 2
    # The retry's first delta starts the text over, once; what follows is the answer.
    assert [d.attempt for d in deltas if d.restart] == [2]
    assert turn_texts(events) == {1: ANSWER}
    assert [e.text for e in events if isinstance(e, Reply)] == [ANSWER]


async def test_a_subscriber_that_reconnects_at_an_offset_gets_each_event_once(
    dev_env: WorkflowEnvironment,
) -> None:
    resume = threading.Event()
    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("lookup_order", {"order_id": "A-1003"})),
            Streamed(say(ANSWER), delay=0.01, pause_after=6, resume=resume),
        )
        async with worker(dev_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                dev_env.client,
                "order-desk",
                "Where is A-1003?",
                task_queue=w.task_queue,
                acting_for=CUSTOMER,
                watch=True,
            )
            first: list[RunEvent] = []
            async with asyncio.timeout(WITHIN):
                async for event in run.events():  # gone mid-reply
                    first.append(event)
                    if isinstance(event, TextDelta):
                        break
            resume.set()
            then = await events_until_end(run.events(from_seq=first[-1].seq + 1))
            whole = await events_until_end(run.events())
    assert [e.seq for e in whole] == list(range(len(whole)))
    assert first + then == whole
    assert isinstance(whole[-1], RunEnded) and whole[-1].answer == ANSWER
    assert turn_texts(whole) == {2: ANSWER}


async def test_a_chats_steps_arrive_in_order_across_an_approval_and_continue_as_new(
    dev_env: WorkflowEnvironment,
) -> None:
    """Tools, an approval and a continue-as-new, followed live by one subscriber; the
    first message is long, so the run it continued as keeps only the latest events, and
    a subscriber from the start reads the rest from the first run."""
    prompt = refund_prompt("A-1001") + " " + "Details follow. " * 1500
    client = dev_env.client
    with ScriptedLLM(scripts=SCRIPTS, chunk_delay=0.01) as llm:
        # The desk whose chat continues-as-new once it has answered the first message.
        desk = dataclasses.replace(ORDER_DESK, continue_as_new_turns=4)
        async with worker(client, desk, llm) as w:
            run = await AgentRun.start(
                client, desk, prompt, id=f"stream-chat-{uuid.uuid4().hex[:8]}",
                task_queue=w.task_queue, chat=True, acting_for=CUSTOMER,
            )  # fmt: skip
            handle = run.handle
            live = asyncio.create_task(events_until_end(run.events()))
            [call] = await run.wait_for_approval()
            await run.approve(call, signer=SIGNER)

            async def in_its_second_run() -> bool:
                state = await run.state()
                return state.status == "awaiting_user" and state.runs == 2

            await until(in_its_second_run, "the chat never continued as new", within=WITHIN)
            await run.send("Where is my order A-1003?")
            await run.end()
            events = await live
            again = await events_until_end(run.events())
            kept: PollResult = await handle.query(POLL_QUERY, PollInput(), result_type=PollResult)
    steps = [
        (e.type, getattr(e, "turn", None), getattr(e, "tool", None))
        for e in events
        if not isinstance(e, TextDelta)
    ]
    assert steps == [
        ("user_message", None, None),
        *model_call(1), *tool_call(1, "lookup_order"),
        *model_call(2),
        ("tool_call_started", 2, "issue_refund"),
        ("approval_waiting", 2, "issue_refund"), ("approval_decided", 2, "issue_refund"),
        ("tool_call_finished", 2, "issue_refund"),
        *model_call(3), *tool_call(3, "notify"),
        *model_call(4),
        ("continued_as_new", None, None),
        ("user_message", None, None),
        *model_call(5), *tool_call(5, "lookup_order"),
        *model_call(6),
        ("run_ended", None, None),
    ]  # fmt: skip
    decided = next(e for e in events if isinstance(e, ApprovalDecided))
    assert decided.approved and decided.turn == 2
    assert [e.seq for e in events] == list(range(len(events)))
    texts = turn_texts(events)
    replies = {e.turn: e.text for e in events if isinstance(e, Reply) and e.text}
    assert texts == replies and "refunded $42.00" in texts[4] and "A-1003" in texts[6]
    assert any(isinstance(e, TextDelta) and e.attempt > 0 for e in events)  # streamed
    # The second run kept only the latest events; the first run gave the rest.
    assert kept.items[0].offset > 0
    assert again == events


@pytest.mark.parametrize(
    ("agent", "streams"),
    [
        ("writer", False),  # a provider that answers a stream request whole
        ("quiet", True),  # LlmPolicy(stream=False)
        ("local-writer", True),  # a local activity: its signals would wait
    ],
)
async def test_a_reply_not_streamed_comes_as_one_delta_at_no_signal(
    dev_env: WorkflowEnvironment, agent: str, streams: bool
) -> None:
    with ScriptedLLM(streams=streams, chunk_delay=0.02) as llm:
        llm.enqueue(say(ANSWER))
        async with worker(dev_env.client, AGENTS, llm) as w:
            run = await start_watched(dev_env.client, agent, w.task_queue)
            events = await events_until_end(run.events())
            assert (await run.result()).answer == ANSWER
            assert await publish_signals(run.handle) == 0
    # Every call reads a stream, to tell a slow reply from a stalled one; what differs
    # is whether its text goes to the run.
    assert [r.stream for r in llm.requests] == [True]
    [delta] = [e for e in events if isinstance(e, TextDelta)]
    assert (delta.text, delta.attempt, delta.call) == (ANSWER, 0, "")


async def test_text_that_cannot_reach_the_run_never_fails_the_model_call(
    dev_env: WorkflowEnvironment,
) -> None:
    """The LLM activity streaming for a run that does not exist: every send fails, and
    the call still returns the whole message."""
    env = ActivityEnvironment(client=dev_env.client)
    env.info = dataclasses.replace(
        env.info,
        workflow_id=f"gone-{uuid.uuid4().hex[:8]}",
        # The test environment's default (1 s) would bound the whole call.
        start_to_close_timeout=timedelta(seconds=WITHIN),
    )
    with ScriptedLLM() as llm:
        llm.enqueue(Streamed(say(ANSWER), delay=0.03))
        activities = LlmActivities(
            AGENTS, make_client(llm_settings(llm)), RecordedSpecs(default_model="m")
        )
        request = LlmRequest(
            agent="writer",
            model="m",
            messages=[Message.user("Where is A-1003?")],
            turn=1,
            stream=True,
        )
        async with asyncio.timeout(WITHIN):
            reply = await env.run(activities.call_llm, request)
    assert reply.message.content == ANSWER and not reply.streamed
    assert llm.requests[0].stream
