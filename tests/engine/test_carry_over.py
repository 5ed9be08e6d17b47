"""What a chat carries into its next run when it continues-as-new (`Carried`), field by
field: one chat, continued as new after every answer, is read at each of its runs, and
each test checks one field against what the runs before it did. Then the deadline (a
chat with one ends by it after several boundaries, not never) and the watch lease (a
watched chat keeps streaming in its next run), and a property test: every generated
carried state survives Tether's data converter and `restore` whole.
Time-skipping server (the lease: a dev server), scripted model over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamState
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.support.waiting import until
from tether import Agent, AgentRegistry, AgentRun, ContextPolicy
from tether._messages import Message, ToolCall, Usage
from tether._pricing import ModelPrice, PriceTable
from tether._run_io import AgentInput, Carried, RunState
from tether._temporal import TETHER_CONVERTER
from tether._workflows.chat import restore
from tether.events import ContinuedAsNew, RunEvent, TextDelta, UserMessage
from tether.testing import ScriptedLLM, Step, say, worker
from tether.workflow import AgentWorkflow

MODEL = "carried-model"
PRICES = PriceTable(prices={MODEL: ModelPrice(input=1.0, output=1.0)})  # $1 per 1M tokens
# A context policy that never compacts: the chat then carries its view and names the
# runs whose transcripts hold the rest (`earlier_runs`).
CARRIER = Agent(
    name="carrier",
    instructions="Echo.",
    model=MODEL,
    context=ContextPolicy(max_tokens=1_000_000),
)
MESSAGES = ["m-0", "m-1", "m-2", "m-3"]  # the prompt, then one message per new run
DAY = 86_400


def echo(messages: list[dict[str, Any]]) -> Step:
    last = [m for m in messages if m["role"] == "user"][-1]
    return say(f"echo: {last['content']}")


@dataclass
class Chain:
    """One chat continued as new after each answer: each run's state as it waited for
    the next message, every run's id (the first's too), what the model was sent, and
    how the chat ended."""

    states: list[RunState]
    run_ids: list[str]
    requests: list[list[dict[str, Any]]]
    reported_tokens: list[int]
    events: list[RunEvent]
    transcript: list[Message]
    result: Any
    carried: list[Carried]  # what each continued run was started with


async def carried_into(client: Client, workflow_id: str, run_id: str) -> Carried:
    """The carried state a continued run was started with, from its history."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    [params] = await client.data_converter.decode(started.input.payloads, [AgentInput])
    assert isinstance(params, AgentInput) and params.carried is not None
    return params.carried


async def runs_reached(run: AgentRun, runs: int) -> RunState:
    """The chat's state once its run number `runs` waits for the next message."""
    states: list[RunState] = []

    async def waiting() -> bool:
        try:
            states.append(await run.state())
        except RPCError:  # a query that timed out on a busy machine, or between runs
            return False
        return states[-1].runs == runs and states[-1].status == "awaiting_user"

    await until(waiting, f"the chat never waited in its run {runs}", within=60)
    return states[-1]


async def start_chain(client: Client, queue: str, deadline_seconds: int) -> AgentRun:
    """A chat of CARRIER that continues as new after every answer."""
    handle = await client.start_workflow(
        AgentWorkflow.run,
        AgentInput(
            agent="carrier",
            prompt=MESSAGES[0],
            chat=True,
            continue_as_new_turns=1,
            deadline_seconds=deadline_seconds,
        ),
        id=f"carry-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    return AgentRun(handle, client=client)


@pytest.fixture(scope="module")
async def chain(dev_env: WorkflowEnvironment) -> AsyncIterator[Chain]:
    # On the dev server: nothing here waits on a timer, and the time-skipping server
    # (under load, in the lowest-versions job) twice left a continued run open beside its
    # successor, after refusing the worker's completion of it as "already completed".
    client = dev_env.client
    with ScriptedLLM(echo) as llm:
        async with worker(client, AgentRegistry([CARRIER]), llm, prices=PRICES) as w:
            run = await start_chain(client, w.task_queue, DAY)
            handle = run.handle
            # With continue_as_new_turns=1 the chat continues as new once each answer
            # is given: the message after the first is answered in run 2, and so on.
            states, run_ids = [], [handle.result_run_id or ""]
            for i, text in enumerate([*MESSAGES[1:], None], start=2):
                states.append(await runs_reached(run, i))
                run_ids.append((await handle.describe()).run_id)
                if text is not None:
                    await run.send(text)
            await run.end()
            result = await asyncio.wait_for(run.result(), 60)
            events = [e async for e in run.events()]
            transcript = await run.transcript()
            carried = [await carried_into(client, handle.id, r) for r in run_ids[1:]]
    yield Chain(
        states=states,
        run_ids=run_ids,
        requests=[r.messages for r in llm.requests],
        reported_tokens=llm.reported_total_tokens,
        events=events,
        transcript=transcript,
        result=result,
        carried=carried,
    )


def test_the_chain_ran_one_model_call_per_run(chain: Chain) -> None:
    assert chain.result.status == "completed"
    assert len(chain.requests) == len(MESSAGES) == len(set(chain.run_ids)) - 1


def test_messages_the_model_is_sent_the_whole_conversation_in_every_run(chain: Chain) -> None:
    for i, request in enumerate(chain.requests):
        said = [(m["role"], m["content"]) for m in request]
        expected = [("system", "Echo.")]
        for text in MESSAGES[:i]:
            expected += [("user", text), ("assistant", f"echo: {text}")]
        assert said == [*expected, ("user", MESSAGES[i])]


def test_earlier_runs_name_each_run_before_and_the_transcript_joins_them(chain: Chain) -> None:
    for i, state in enumerate(chain.states):
        assert state.earlier_runs == chain.run_ids[: i + 1]
    users = [m.content for m in chain.transcript if m.role == "user"]
    answers = [m.content for m in chain.transcript if m.role == "assistant"]
    assert users == MESSAGES
    assert answers == [f"echo: {text}" for text in MESSAGES]


def test_usage_adds_up_across_runs(chain: Chain) -> None:
    for i, state in enumerate(chain.states):
        assert state.usage.total_tokens == sum(chain.reported_tokens[: i + 1]) > 0
    assert chain.result.usage.total_tokens == sum(chain.reported_tokens)


def test_cost_adds_up_across_runs(chain: Chain) -> None:
    for i, state in enumerate(chain.states):
        spent = sum(chain.reported_tokens[: i + 1]) / 1_000_000
        assert state.cost_usd == pytest.approx(spent, abs=1e-8)
    assert chain.result.cost_usd == pytest.approx(sum(chain.reported_tokens) / 1e6, abs=1e-8)


def test_turns_count_on_across_runs(chain: Chain) -> None:
    assert [s.turn for s in chain.states] == [1, 2, 3, 4]
    assert chain.result.turns == 4


def test_the_deadline_is_the_first_runs_in_every_run(chain: Chain) -> None:
    first = chain.states[0].deadline
    assert first is not None
    assert [s.deadline for s in chain.states] == [first] * len(chain.states)


def test_runs_count_every_run_of_the_conversation(chain: Chain) -> None:
    assert [s.runs for s in chain.states] == [2, 3, 4, 5]


def test_the_event_feed_goes_on_without_a_gap_or_a_repeat(chain: Chain) -> None:
    assert [e.seq for e in chain.events] == list(range(len(chain.events)))
    told = [e.text for e in chain.events if isinstance(e, UserMessage)]
    assert told == MESSAGES
    assert [e.runs for e in chain.events if isinstance(e, ContinuedAsNew)] == [1, 2, 3, 4]


def test_an_unwatched_chat_carries_its_feeds_offset_and_no_events(chain: Chain) -> None:
    # Nobody watched: the events stay in the run that published them (a subscriber
    # reads them there); the next run carries only where the feed goes on.
    boundaries = [i for i, e in enumerate(chain.events) if isinstance(e, ContinuedAsNew)]
    for carried, boundary in zip(chain.carried, boundaries, strict=True):
        assert carried.stream is not None
        assert (carried.stream.log, carried.stream.base_offset) == ([], boundary + 1)


async def test_a_chat_with_a_deadline_ends_by_it_after_several_boundaries(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(echo) as llm:
        async with worker(ts_env.client, AgentRegistry([CARRIER]), llm) as w:
            run = await start_chain(ts_env.client, w.task_queue, 3600)
            for i, text in enumerate(MESSAGES[1:], start=2):
                await runs_reached(run, i)
                await run.send(text)
            await runs_reached(run, len(MESSAGES) + 1)
            # Nobody writes again: the hour passes (skipped) and the chat ends by it.
            result = await asyncio.wait_for(run.result(), 60)
            state = await run.state()
    assert (result.status, state.runs, result.turns) == ("deadline_exceeded", 5, 4)


async def test_a_watched_chat_keeps_streaming_in_its_next_run(dev_env: WorkflowEnvironment) -> None:
    """One announcement, before the boundary: the next run's model call streams too
    (the lease is carried), until the lease ends."""
    answer = "A reply long enough to be streamed in pieces. " * 6
    agent = Agent(name="streamer", instructions="Answer.", continue_as_new_turns=1)
    with ScriptedLLM(lambda messages: say(answer), chunk_delay=0.01) as llm:
        async with worker(dev_env.client, AgentRegistry([agent]), llm) as w:
            run = await AgentRun.start(
                dev_env.client, agent, "first", task_queue=w.task_queue, chat=True, watch=True
            )
            feed = asyncio.create_task(collect(run))
            await runs_reached(run, 2)  # the first answer given, in the chat's next run
            await run.send("second")
            await run.end()
            events = await asyncio.wait_for(feed, 60)
            first_run = run.handle.first_execution_run_id or ""
            runs = [first_run, (await run.handle.describe()).run_id]
            carried = await carried_into(dev_env.client, run.id, runs[1])
    deltas = {e.turn: e for e in events if isinstance(e, TextDelta)}
    # Streamed: deltas of the model call's own attempt, not the one whole-text delta a
    # workflow publishes for a call that did not stream (attempt 0).
    assert sorted(deltas) == [1, 2]
    assert all(d.attempt > 0 for d in deltas.values())
    # Watched, the next run carries the latest events, for a subscriber a little behind.
    assert carried.stream is not None and carried.stream.log
    assert carried.watched_until is not None


async def collect(run: AgentRun) -> list[RunEvent]:
    return [e async for e in run.events()]


# Every field of a carried state survives the trip: the payload, then `restore`.
messages = st.lists(
    st.one_of(
        st.builds(Message.user, st.text(max_size=50)),
        st.builds(Message.system, st.text(max_size=50)),
        st.builds(
            lambda calls, text: Message(role="assistant", content=text, tool_calls=calls),
            st.lists(
                st.builds(
                    ToolCall,
                    id=st.text(min_size=1, max_size=8),
                    name=st.just("t"),
                    arguments=st.just("{}"),
                ),
                max_size=3,
            ),
            st.none() | st.text(max_size=50),
        ),
        st.builds(Message.tool, st.text(min_size=1, max_size=8), st.text(max_size=50)),
    ),
    max_size=8,
)
moments = st.none() | st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
carried_states = st.builds(
    Carried,
    messages=messages,
    earlier_runs=st.lists(st.uuids().map(str), max_size=3),
    usage=st.builds(
        Usage,
        prompt_tokens=st.integers(0, 10**9),
        completion_tokens=st.integers(0, 10**9),
        total_tokens=st.integers(0, 2 * 10**9),
    ),
    cost_usd=st.none() | st.floats(0, 10_000).map(lambda c: round(c, 8)),
    turn=st.integers(0, 10_000),
    deadline=moments,
    runs=st.integers(1, 10_000),
    stream=st.none() | st.builds(WorkflowStreamState, base_offset=st.integers(0, 10**6)),
    watched_until=moments,
)


@settings(max_examples=200, deadline=None)
@given(carried=carried_states)
def test_every_carried_field_survives_the_payload_and_restore(carried: Carried) -> None:
    params = AgentInput(agent="a", prompt="p", chat=True, carried=carried)
    [decoded] = TETHER_CONVERTER.payload_converter.from_payloads(
        TETHER_CONVERTER.payload_converter.to_payloads([params]), [AgentInput]
    )
    assert decoded == params
    back = decoded.carried
    assert back is not None
    conversation, spend, limits = restore(back)
    assert conversation.messages == carried.messages
    assert conversation.earlier_runs == carried.earlier_runs
    # With earlier runs, their transcripts hold the conversation: this run's starts empty.
    assert conversation.transcript == ([] if carried.earlier_runs else carried.messages)
    assert spend.usage == carried.usage
    assert spend.cost() == carried.cost_usd
    assert (spend.calls, spend.call_costs) == (0, [])
    assert limits.deadline == carried.deadline
    assert back.turn == carried.turn and back.runs == carried.runs
    assert back.stream == carried.stream and back.watched_until == carried.watched_until


def test_restore_without_a_carried_state_is_a_first_runs() -> None:
    conversation, spend, limits = restore(None)
    assert (conversation.messages, conversation.transcript, conversation.earlier_runs) == (
        [],
        [],
        [],
    )
    assert (spend.usage, spend.cost(), limits.deadline) == (Usage(), None, None)
