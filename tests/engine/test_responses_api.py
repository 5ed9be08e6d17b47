"""The Responses API as the LLM activity's wire format, against the scripted model's
`/v1/responses` over real HTTP: a run completes, carries the model's reasoning items
between its calls (the server refuses tool results whose reasoning is missing, as
OpenAI does), streams its text, keeps the chat path's durability (errors classified,
Retry-After honoured, a broken stream retried), and survives a worker killed mid-call."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import retried_activities
from tests.support.processes import model_env, process_env, target, tether_worker
from tests.support.waiting import until
from tether import Agent, AgentRegistry, AgentRun, LlmPolicy, tool
from tether._wire import LLM_ACTIVITY
from tether.events import TextDelta
from tether.testing import (
    CallTools,
    Say,
    ScriptedLLM,
    Step,
    Streamed,
    context_length_exceeded,
    rate_limited,
    worker,
)

WITHIN = 60.0
QUICK = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    maximum_interval=timedelta(milliseconds=500),
    maximum_attempts=5,
)
ANSWER = "A-1003 has shipped and arrives tomorrow."


@tool
def lookup_order(order_id: str) -> str:
    """Where an order is."""
    return f"{order_id} has shipped"


# On the Responses API by its policy; the worker of the crash test is told by
# TETHER_LLM_API instead, so `plain` takes the worker's format.
REASONER = Agent(
    name="reasoner",
    instructions="Look orders up.",
    tools=[lookup_order],
    llm=LlmPolicy(api="responses", retry=QUICK),
)
PLAIN = Agent(
    name="plain",
    instructions="Look orders up.",
    tools=[lookup_order],
    llm=LlmPolicy(heartbeat_timeout=timedelta(seconds=2), retry=QUICK),
)
AGENTS = AgentRegistry([REASONER, PLAIN])


def order_script(messages: list[dict[str, Any]]) -> Step:
    """Look the order up, then answer; each reply after some reasoning."""
    if not any(m["role"] == "tool" for m in messages):
        return CallTools((("lookup_order", {"order_id": "A-1003"}),), reasoning="look it up")
    return Say(ANSWER, reasoning="it has shipped")


def reasoning_sent(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in body["input"] if isinstance(i, dict) and i.get("type") == "reasoning"]


async def test_a_run_completes_carrying_its_reasoning(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM(responder=order_script) as llm:
        async with worker(ts_env.client, AGENTS, llm) as w:
            run = await AgentRun.start(
                ts_env.client, REASONER, "Where is A-1003?", task_queue=w.task_queue
            )
            result = await run.result()
    assert (result.status, result.answer) == ("completed", ANSWER)
    first, second = llm.requests
    assert first.api == second.api == "responses"
    assert first.body["store"] is False and "reasoning.encrypted_content" in first.body["include"]
    assert reasoning_sent(first.body) == []
    # The first reply's reasoning went back with its function call, as it was issued.
    [carried] = reasoning_sent(second.body)
    assert carried["id"] == "rs_scripted_1" and carried["encrypted_content"]
    kinds = [i.get("type", "message") for i in second.body["input"]]
    assert kinds.index("reasoning") == kinds.index("function_call") - 1


async def test_its_text_streams_to_a_watcher(dev_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(Streamed(Say(ANSWER), delay=0.05))
        async with worker(dev_env.client, AGENTS, llm) as w:
            run = await AgentRun.start(
                dev_env.client, "reasoner", "Where?", task_queue=w.task_queue, watch=True
            )
            events = []
            async with asyncio.timeout(WITHIN):
                async for event in run.events():
                    events.append(event)
            assert (await run.result()).answer == ANSWER
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas) == ANSWER
    assert all(d.attempt == 1 for d in deltas)  # written by the activity, as it came


async def test_failures_are_classified_and_retried_as_on_chat(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(
            rate_limited(retry_after_ms=200),
            Streamed(Say(ANSWER), drop_after=3),  # broken off mid-reply
            Say(ANSWER),
            context_length_exceeded(),
        )
        async with worker(ts_env.client, AGENTS, llm) as w:
            run = await AgentRun.start(ts_env.client, REASONER, "Where?", task_queue=w.task_queue)
            assert (await run.result()).answer == ANSWER
            assert await retried_activities(run.handle) == [(LLM_ACTIVITY, 3)]
            failing = await AgentRun.start(
                ts_env.client, REASONER, "Where?", task_queue=w.task_queue
            )
            with pytest.raises(WorkflowFailureError) as failure:
                await failing.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ContextLengthExceeded"
    assert all(r.api == "responses" for r in llm.requests)


class HeldOnce:
    """The order script, holding its first request open until `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._held = False

    def __call__(self, messages: list[dict[str, Any]]) -> Step:
        if not self._held:
            self._held = True
            self.release.wait(WITHIN)
        return order_script(messages)


async def test_a_worker_killed_mid_call_loses_nothing(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A real worker process on TETHER_LLM_API=responses is killed (SIGKILL) while the
    model writes its first reply; a second worker retries the call and the run ends
    as it would have, its reasoning carried."""
    script = HeldOnce()
    queue = f"responses-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(responder=script) as llm:
        env = process_env(
            target(dev_env),
            queue,
            tmp_path / "ledger.db",
            **model_env(llm),
            TETHER_LLM_API="responses",
        )
        with tether_worker(
            env, tmp_path / "first.log", "tests.engine.test_responses_api:AGENTS"
        ) as first:
            run = await AgentRun.start(
                dev_env.client, PLAIN, "Where is A-1003?", id=queue, task_queue=queue
            )

            async def asked() -> bool:
                return llm.request_count >= 1

            await until(asked, "the model was never asked", within=WITHIN)
            first.kill()
            first.wait(timeout=30)
        script.release.set()
        with tether_worker(env, tmp_path / "second.log", "tests.engine.test_responses_api:AGENTS"):
            async with asyncio.timeout(WITHIN):
                result = await run.result()
    assert (result.status, result.answer) == ("completed", ANSWER)
    held, retried, last = llm.requests
    assert held.body["input"] == retried.body["input"]  # the same request again
    assert all(r.api == "responses" for r in llm.requests)
    assert [c["id"] for c in reasoning_sent(last.body)] == ["rs_scripted_2"]
