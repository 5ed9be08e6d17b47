"""Chat runs, budgets, cancellation and continue-as-new, in the time-skipping server
against the scripted model over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from tests.support.order_desk import ORDER_DESK
from tests.support.runs import terminate_open_runs
from tests.support.waiting import state_when, status_becomes
from tether import Agent, AgentRegistry, AgentResult, AgentRun, Budgets, RunStatus
from tether.testing import ScriptedLLM, Slow, Step, call_tools, say, wait_for_approvals, worker
from tether.workflow import AgentWorkflow

Handle = WorkflowHandle[AgentWorkflow, AgentResult]
HOUR = timedelta(hours=1)
# The order desk whose chats continue-as-new after every five model calls.
EVERY_5 = dataclasses.replace(ORDER_DESK, continue_as_new_turns=5)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


def echo(messages: list[dict[str, Any]]) -> Step:
    text = last_user_text(messages)
    reply = say(f"echo: {text}")
    return Slow(2.0, reply) if text == "slow" else reply


def lookup_forever(messages: list[dict[str, Any]]) -> Step:
    return call_tools(("lookup_order", {"order_id": "A-1001"}))


@asynccontextmanager
async def started(
    env: WorkflowEnvironment,
    llm: ScriptedLLM,
    prompt: str = "hello",
    *,
    agent: Agent = ORDER_DESK,
    **options: Any,
) -> AsyncIterator[Handle]:
    """A run of `agent` started with `options` (of `AgentRun.start`); the worker runs
    while the block does."""
    async with worker(env.client, AgentRegistry([agent]), llm) as w:
        run = await AgentRun.start(
            env.client, agent, prompt, id=f"chat-{uuid.uuid4()}", task_queue=w.task_queue, **options
        )
        yield run.handle


async def test_a_chat_answers_each_message_and_queues_those_sent_mid_turn(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(echo) as llm:
        async with started(ts_env, llm, chat=True) as handle:
            await status_becomes(handle, "awaiting_user")
            slow = asyncio.create_task(handle.execute_update(AgentWorkflow.send, "slow"))
            await status_becomes(handle, "running")
            # One after the other, so that they arrive in this order.
            second = asyncio.create_task(handle.execute_update(AgentWorkflow.send, "second"))
            await state_when(handle, lambda s: s.queued_messages == 1, "the message was not queued")
            third = asyncio.create_task(handle.execute_update(AgentWorkflow.send, "third"))
            await state_when(handle, lambda s: s.queued_messages == 2, "2 messages were not queued")
            replies = list(await asyncio.gather(slow, second, third))
            await handle.signal(AgentWorkflow.end)
            result = await handle.result()
            transcript = await handle.query(AgentWorkflow.transcript)

    # Both queued messages were answered together, in the turn after the slow one.
    assert replies == ["echo: slow", "echo: third", "echo: third"]
    assert [(m.role, m.content) for m in transcript[1:]] == [
        ("user", "hello"),
        ("assistant", "echo: hello"),
        ("user", "slow"),
        ("assistant", "echo: slow"),
        ("user", "second"),
        ("user", "third"),
        ("assistant", "echo: third"),
    ]
    assert result.status == "completed"
    assert result.answer == "echo: third"
    assert result.turns == llm.request_count == 3


async def test_a_300_message_chat_continues_as_new_without_losing_anything(
    ts_env: WorkflowEnvironment,
) -> None:
    # Thirty bursts of ten messages sent at once: messages that arrive mid-turn are
    # answered together in the next turn, and between bursts the chat is idle, which
    # is when it continues-as-new.
    with ScriptedLLM(echo) as llm:
        async with started(ts_env, llm, "m-start", agent=EVERY_5, chat=True) as handle:
            first_run = handle.result_run_id
            # The handle names the workflow id only, so it follows the chain of runs.
            replies = [
                reply
                for burst in range(0, 300, 10)
                for reply in await asyncio.gather(
                    *(
                        handle.execute_update(AgentWorkflow.send, f"m-{i}")
                        for i in range(burst, burst + 10)
                    )
                )
            ]
            state = await handle.query(AgentWorkflow.state)
            await handle.signal(AgentWorkflow.end)
            result = await handle.result()
            transcript = await handle.query(AgentWorkflow.transcript)
            last_run = (await handle.describe()).run_id

    users = [m.content for m in transcript if m.role == "user"]
    answers = [m.content for m in transcript if m.role == "assistant"]
    assert sorted(str(u) for u in users) == sorted(["m-start", *(f"m-{i}" for i in range(300))])
    assert transcript[-1].role == "assistant", "every message was answered"
    # Each message's reply is the answer of the turn that took it: an echo of the
    # last message of its batch, which is never one sent before it.
    position = {text: i for i, text in enumerate(users)}
    for i, reply in enumerate(replies):
        assert reply in answers
        assert position[reply.removeprefix("echo: ")] >= position[f"m-{i}"]
    assert last_run != first_run
    assert state.runs >= 10
    assert result.status == "completed"
    assert result.turns == state.turn == llm.request_count == len(answers)
    assert result.usage.total_tokens == sum(llm.reported_total_tokens)


@pytest.mark.parametrize(
    ("budget", "responder", "status", "turns"),
    [
        ({"budgets": Budgets(max_turns=3)}, lookup_forever, "max_turns", 3),
        ({"budgets": Budgets(max_total_tokens=1)}, lookup_forever, "max_tokens", 1),
        ({"chat": True, "budgets": Budgets(deadline=HOUR)}, echo, "deadline_exceeded", 1),
    ],
    ids=["turns", "tokens", "deadline"],
)
async def test_each_budget_ends_a_run_with_its_own_status(
    ts_env: WorkflowEnvironment,
    budget: dict[str, Any],
    responder: Any,
    status: RunStatus,
    turns: int,
) -> None:
    with ScriptedLLM(responder) as llm:
        async with started(ts_env, llm, **budget) as handle:
            result = await handle.result()
            state = await handle.query(AgentWorkflow.state)
            transcript = await handle.query(AgentWorkflow.transcript)

    assert result.status == state.status == status
    assert result.turns == llm.request_count == turns
    # The transcript is kept: every model message is still there.
    assert sum(m.role == "assistant" for m in transcript) == turns


async def test_a_token_budget_is_spent_when_usage_reaches_it(ts_env: WorkflowEnvironment) -> None:
    # The scripted model counts tokens the same way for the same conversation: one
    # call's usage, measured first, is a budget that the first call meets exactly.
    with ScriptedLLM(lookup_forever) as llm:
        async with started(ts_env, llm, budgets=Budgets(max_turns=1)) as handle:
            one_call = (await handle.result()).usage.total_tokens
        async with started(ts_env, llm, budgets=Budgets(max_total_tokens=one_call)) as handle:
            met = await handle.result()
        async with started(ts_env, llm, budgets=Budgets(max_total_tokens=one_call + 1)) as handle:
            short_by_one = await handle.result()

    assert (met.status, met.turns, met.usage.total_tokens) == ("max_tokens", 1, one_call)
    assert (short_by_one.status, short_by_one.turns) == ("max_tokens", 2)


async def test_a_chat_message_that_spends_the_budget_ends_the_chat(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(echo) as llm:
        async with started(ts_env, llm, chat=True, budgets=Budgets(max_total_tokens=1)) as handle:
            # Ended once answered: not left waiting for a message it could not afford.
            await status_becomes(handle, "max_tokens")
            result = await handle.result()

    assert (result.status, result.answer, result.turns) == ("max_tokens", "echo: hello", 1)
    assert llm.request_count == 1


async def test_a_deadline_ends_a_wait_for_approval(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"})))
    async with started(ts_env, llm, budgets=Budgets(deadline=HOUR)) as handle:
        await wait_for_approvals(handle)
        result = await handle.result()
        state = await handle.query(AgentWorkflow.state)
        ended = (await handle.describe()).close_time

    # It ended at the deadline on the run's clock (the time-skipping server got there).
    assert state.deadline is not None and ended is not None and ended >= state.deadline
    assert result.status == "deadline_exceeded"
    assert state.pending_approvals == []


async def test_cancelling_a_run_that_waits_for_approval_keeps_its_transcript(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"})))
    async with started(ts_env, llm) as handle:
        await wait_for_approvals(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        state = await handle.query(AgentWorkflow.state)
        transcript = await handle.query(AgentWorkflow.transcript)

    assert isinstance(failure.value.cause, CancelledError)
    assert state.status == "cancelled"
    assert state.pending_approvals == []
    assert transcript[-1].tool_calls[0].name == "issue_refund"


async def test_messages_are_refused_by_runs_that_are_not_chats_or_have_ended(
    ts_env: WorkflowEnvironment,
) -> None:
    def refund_or_echo(messages: list[dict[str, Any]]) -> Step:
        if last_user_text(messages) == "refund":
            return call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"}))
        return echo(messages)

    with ScriptedLLM(refund_or_echo) as llm:
        async with (
            started(ts_env, llm, "refund") as single,
            started(ts_env, llm, chat=True) as chat,
        ):
            await wait_for_approvals(single)  # open, and not a chat
            await status_becomes(chat, "awaiting_user")
            errors = []
            for handle, text in [(single, "more"), (chat, " \n ")]:
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await handle.execute_update(AgentWorkflow.send, text)
                assert isinstance(refused.value.cause, ApplicationError)
                errors.append(refused.value.cause.message)
            await chat.signal(AgentWorkflow.end)
            await chat.result()
            # Ended here: a run left open fails the test (see conftest.ts_env).
            await single.cancel()
            with pytest.raises(WorkflowFailureError):
                await single.result()

    assert errors == [
        "this run is not a chat; start one with `tether chat`",
        "the message is empty",
    ]


async def test_a_run_a_test_leaves_open_is_found_and_terminated(
    ts_env: WorkflowEnvironment,
) -> None:
    # What ts_env does after every test, failing the test that left the run open.
    with ScriptedLLM(echo) as llm:
        async with started(ts_env, llm, chat=True) as handle:
            await status_becomes(handle, "awaiting_user")
    left = await terminate_open_runs(ts_env.client)
    described = await handle.describe()

    assert left == [handle.id]
    assert described.status == WorkflowExecutionStatus.TERMINATED
