"""Interrupting a turn (`AgentRun.interrupt`): a model call in flight, tools running and
calls waiting for approval, with and without a message, in a chat and in a one-shot
run, and the interrupts a run refuses.

On a real dev server: the tests measure that the next turn starts at once, which the
time-skipping server's clock would blur.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.support.question_agents import ANSWERER, ORDER_PICKER, ORDERS, pick_order_script
from tests.support.question_agents import REGISTRY as QUESTION_AGENTS
from tests.support.steering import LOCAL, MOVED, RECORDED, REGISTRY, STEER, STEERED, script
from tests.support.waiting import status_becomes, until
from tether import Agent, AgentRun
from tether.events import ModelSwitched, TurnInterrupted
from tether.testing import (
    OFFLINE_MODEL,
    SIGNER,
    ScriptedLLM,
    Step,
    call_tools,
    say,
    wait_for_approvals,
    worker,
)


@asynccontextmanager
async def started(
    env: WorkflowEnvironment, llm: ScriptedLLM, prompt: str, agent: Agent = STEERED, **options: Any
) -> AsyncIterator[AgentRun]:
    async with worker(env.client, REGISTRY, llm) as w:
        name = f"steer-{uuid.uuid4()}"
        yield await AgentRun.start(
            env.client, agent, prompt, id=name, task_queue=w.task_queue, **options
        )


async def requested(llm: ScriptedLLM, count: int) -> None:
    async def arrived() -> bool:
        return llm.request_count >= count

    await until(arrived, f"the model never got request {count}")


def users(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def test_an_interrupt_during_a_10_s_model_call_starts_the_next_turn_with_its_message(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(script) as llm:
        async with started(dev_env, llm, "hello", chat=True) as run:
            await status_becomes(run.handle, "awaiting_user")
            sending = asyncio.create_task(run.send("slow"))
            await requested(llm, 2)
            asked = time.monotonic()
            taken = await run.interrupt(STEER)
            await requested(llm, 3)
            next_turn = time.monotonic() - asked
            reply = await sending
            await run.end()
            result = await run.result()
            transcript = await run.transcript()
            events = [e async for e in run.events(watch=False)]

    assert next_turn < 3, f"the next turn started {next_turn:.1f} s after the interrupt"
    assert taken.turn == 2 and taken.abandoned == ["the model call of turn 2"]
    assert taken.message == STEER
    # The one who sent "slow" gets the steered turn's answer; the abandoned one is never used.
    assert reply == result.answer == "Done."
    assert all("abandoned answer" not in (m.content or "") for m in transcript)
    # The abandoned call was made once; the next one is sent the steer as the user's next.
    assert [users(r.body) for r in llm.requests] == [
        ["hello"],
        ["hello", "slow"],
        ["hello", "slow", STEER],
    ]
    assert [(m.role, m.content) for m in transcript[3:]] == [
        ("user", "slow"),
        ("system", "[Interrupted by the user in turn 2; abandoned: the model call of turn 2.]"),
        ("user", STEER),
        ("assistant", "Done."),
    ]
    told = [e for e in events if isinstance(e, TurnInterrupted)]
    assert [(e.turn, e.abandoned) for e in told] == [(2, ["the model call of turn 2"])]
    # A cancelled call is no failure: the run did not fall back to another model.
    assert {r.body["model"] for r in llm.requests} == {OFFLINE_MODEL}
    assert not any(isinstance(e, ModelSwitched) for e in events)
    assert result.status == "completed" and result.turns == 3


async def test_an_interrupt_lets_a_running_tool_finish_and_withdraws_a_call_awaiting_approval(
    dev_env: WorkflowEnvironment,
) -> None:
    RECORDED.clear()
    with ScriptedLLM(script) as llm:
        async with started(dev_env, llm, "record") as run:
            await wait_for_approvals(run)
            taken = await run.interrupt(STEER)
            result = await run.result()
            transcript = await run.transcript()
            state = await run.state()

    # `record` ran in a thread, which a cancellation cannot stop: it finished, and the
    # model is told its result; `publish` never ran.
    assert RECORDED == ["kept"]
    assert sorted(taken.abandoned) == [
        "publish (call call_0002) withdrawn before it ran",
    ] or sorted(taken.abandoned) == [
        "publish (call call_0002) withdrawn before it ran",
        "record (call call_0001) stopped while it ran",
    ]
    results = {m.tool_call_id: m.content for m in transcript if m.role == "tool"}
    assert results["call_0002"] == "Not done: the user interrupted the turn before publish ran."
    assert results["call_0001"] in (
        "recorded kept",
        "Interrupted by the user while record ran: it was stopped and gave no result. "
        "Check whether it took effect before calling it again.",
    )
    assert state.pending_approvals == []
    assert result.status == "completed" and result.answer == "Done."


async def test_a_tool_that_stops_on_cancellation_is_stopped_and_undoes_its_work(
    dev_env: WorkflowEnvironment,
) -> None:
    MOVED.clear()
    with ScriptedLLM(script) as llm:
        async with started(dev_env, llm, "transfer") as run:

            async def moving() -> bool:
                return bool(MOVED)

            await until(moving, "the transfer never started")
            asked = time.monotonic()
            taken = await run.interrupt(STEER)
            stopped = time.monotonic() - asked
            result = await run.result()
            transcript = await run.transcript()

    # It heard the cancellation at its next heartbeat (a third of its 1 s timeout), not
    # after its 30 s, and moved back what it had moved.
    assert stopped < 5, f"the tool stopped {stopped:.1f} s after the interrupt"
    assert MOVED and sum(MOVED) == 0
    assert taken.abandoned == ["transfer (call call_0001) stopped while it ran"]
    [told] = [m.content for m in transcript if m.role == "tool"]
    assert told == (
        "Interrupted by the user while transfer ran: it was stopped and gave no result. "
        "Check whether it took effect before calling it again."
    )
    assert result.status == "completed" and result.answer == "Done."


async def test_without_a_message_a_chat_waits_and_a_one_shot_run_ends_interrupted(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(script) as llm:
        async with started(dev_env, llm, "hello", chat=True) as chat:
            await status_becomes(chat.handle, "awaiting_user")
            sending = asyncio.create_task(chat.send("slow"))
            await requested(llm, 2)
            taken = await chat.interrupt()
            assert await sending == "[interrupted before answering]"
            await status_becomes(chat.handle, "awaiting_user")
            assert await chat.send("again") == "echo: again"
            await chat.end()
            chatted = await chat.result()
        async with started(dev_env, llm, "slow") as once:
            await requested(llm, 4)
            stopped = await once.interrupt()
            result = await once.result()

    assert taken.abandoned == ["the model call of turn 2"] and taken.message is None
    assert chatted.status == "completed" and chatted.answer == "echo: again"
    # A one-shot run's first call, interrupted before its agent's spec was recorded.
    assert stopped.turn == 1 and stopped.abandoned == ["the model call of turn 1"]
    assert result.status == "interrupted" and result.answer is None


async def test_a_run_refuses_an_interrupt_it_cannot_take(dev_env: WorkflowEnvironment) -> None:
    hold = threading.Event()

    def held(messages: list[dict[str, Any]]) -> Step:
        if messages[-1]["role"] == "user":
            return call_tools(("record", {"text": "local"}))
        hold.wait(30)
        return say("done")

    with ScriptedLLM(script, scripts={LOCAL.name: held}) as llm:
        async with started(dev_env, llm, "hello", chat=True) as chat:
            await status_becomes(chat.handle, "awaiting_user")
            refusals = [await refused(chat, None), await refused(chat, " ")]
            await chat.end()
            await chat.result()
            refusals.append(await refused(chat, None))
        async with started(dev_env, llm, "hello", agent=LOCAL) as local:
            await requested(llm, 3)
            refusals.append(await refused(local, "stop"))
            hold.set()
            await local.result()

    assert refusals == [
        "nothing to interrupt: the run is awaiting_user, not in a turn's step",
        "the message is empty",
        "workflow execution already completed",
        "the turn runs the model call of turn 2 as a local activity, which an interrupt "
        "may not stop; try again in a moment",
    ]


async def refused(run: AgentRun, message: str | None) -> str:
    """Why the run refused (a closed run: the server refuses for it)."""
    with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refusal:
        await run.interrupt(message)
    error = refusal.value
    if isinstance(error, WorkflowUpdateFailedError):
        assert isinstance(error.cause, ApplicationError)
        return error.cause.message
    return str(error)


async def test_two_interrupts_at_once_are_both_answered(dev_env: WorkflowEnvironment) -> None:
    with ScriptedLLM(script) as llm:
        async with started(dev_env, llm, "hello", chat=True) as run:
            await status_becomes(run.handle, "awaiting_user")
            sending = asyncio.create_task(run.send("slow"))
            await requested(llm, 2)
            both = await asyncio.wait_for(
                asyncio.gather(
                    run.interrupt("first"), run.interrupt(STEER), return_exceptions=True
                ),
                30,
            )
            await asyncio.wait_for(sending, 30)
            await run.end()
            result = await run.result()

    # Both taken by the one stop (their validators ran in one workflow task), or the
    # second refused as the first was being taken, or taken in the next turn: neither
    # waits forever.
    taken = [b for b in both if isinstance(b, TurnInterrupted)]
    refused = [b for b in both if not isinstance(b, TurnInterrupted)]
    assert any(t.abandoned == ["the model call of turn 2"] for t in taken)
    assert all(
        isinstance(r, WorkflowUpdateFailedError)
        and isinstance(r.cause, ApplicationError)
        and r.cause.message == "the turn is being interrupted already"
        for r in refused
    )
    assert result.status == "completed"


async def test_an_interrupt_withdraws_a_question_nobody_answered_yet(
    dev_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(pick_order_script) as llm:
        async with worker(dev_env.client, QUESTION_AGENTS, llm) as w:
            run = await AgentRun.start(
                dev_env.client, ORDER_PICKER, "My order arrived broken.",
                id=f"steer-{uuid.uuid4()}", task_queue=w.task_queue,
            )  # fmt: skip
            (question,) = await run.wait_for_question()
            taken = await run.interrupt(STEER)
            # Refused by the run, or by the server if the run has already ended.
            with pytest.raises((WorkflowUpdateFailedError, RPCError)):
                await run.answer(question, ORDERS[1], signer=SIGNER, answerer=ANSWERER)
            result = await run.result()
            transcript = await run.transcript()
            state = await run.state()

    assert taken.abandoned == [f"ask_person (call {question.call_id}) withdrawn before it ran"]
    results = {m.tool_call_id: m.content for m in transcript if m.role == "tool"}
    assert results[question.call_id] == (
        "Not done: the user interrupted the turn before ask_person ran."
    )
    assert state.pending_questions == []
    assert result.status == "completed"
    assert result.answer == "Nobody told me which order you mean."
