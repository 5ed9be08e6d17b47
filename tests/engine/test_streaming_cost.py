"""What streaming adds to a run's history, watched and unwatched, on a real dev server:
a run of four model calls (three that say a sentence and call a tool, then the answer),
each reply written over about a second, as a real model writes it."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from temporalio.api.history.v1 import History
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import PUBLISH_SIGNAL
from tests.support.ledger import CUSTOMER
from tests.support.order_desk import ORDER_DESK
from tether import AgentRegistry, AgentRun, LlmPolicy
from tether._events import WATCH_SIGNAL
from tether.events import TextDelta
from tether.testing import CallTools, ScriptedLLM, Streamed, say, worker

SENTENCE = "Let me look that order up in the shop's records for you, one moment please. "
ANSWER = "Order A-1003 shipped on Monday and is due by Friday; sorry for the wait. " * 2
CHUNK_DELAY = 0.06  # 15 to 30 words a reply: about a second or two each
UNSTREAMED = dataclasses.replace(ORDER_DESK, name="unstreamed", llm=LlmPolicy(stream=False))
AGENTS = AgentRegistry([ORDER_DESK, UNSTREAMED])


@dataclass(frozen=True)
class Cost:
    events: int
    bytes: int
    publish_signals: int
    watch_signals: int
    text: str  # what a subscriber saw of the answer ("" unwatched)


async def four_calls(env: WorkflowEnvironment, agent: str, *, watched: bool) -> Cost:
    lookup = CallTools((("lookup_order", {"order_id": "A-1003"}),), content=SENTENCE)
    with ScriptedLLM() as llm:
        llm.enqueue(
            *(Streamed(lookup, delay=CHUNK_DELAY) for _ in range(3)),
            Streamed(say(ANSWER), delay=CHUNK_DELAY),
        )
        async with worker(env.client, AGENTS, llm) as w:
            run = await AgentRun.start(
                env.client,
                agent,
                "Where is A-1003?",
                task_queue=w.task_queue,
                acting_for=CUSTOMER,
                watch=watched,
            )
            text = ""
            async with asyncio.timeout(60):
                if watched:
                    async for event in run.events():
                        if isinstance(event, TextDelta) and event.turn == 4:
                            text = event.text if event.restart else text + event.text
                assert (await run.result()).answer == ANSWER
        history = await run.handle.fetch_history()
        signals = [
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in history.events
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
    return Cost(
        len(history.events),
        History(events=history.events).ByteSize(),
        signals.count(PUBLISH_SIGNAL),
        signals.count(WATCH_SIGNAL),
        text,
    )


async def test_streaming_costs_nothing_unwatched_and_little_watched(
    dev_env: WorkflowEnvironment,
) -> None:
    off = await four_calls(dev_env, "unstreamed", watched=False)
    unwatched = await four_calls(dev_env, "order-desk", watched=False)
    watched = await four_calls(dev_env, "order-desk", watched=True)
    print(f"\nstreaming off: {off}\nunwatched: {unwatched}\nwatched: {watched}")
    # Nobody watches: the same history as with streaming off, to the event.
    assert (unwatched.events, unwatched.publish_signals, unwatched.watch_signals) == (
        off.events,
        0,
        0,
    )
    # Watched from the start (one announcement, with the start): the text came in
    # batches, a few per reply, not one signal per token.
    assert watched.watch_signals == 1 and watched.text == ANSWER
    assert 4 <= watched.publish_signals <= 4 * 4
