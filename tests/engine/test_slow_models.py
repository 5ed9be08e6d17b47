"""Slow and local models: a reply cap by default, a call bounded by its silence (a stall)
and separately in total, and calls beyond a worker's model slots queued in Temporal.

Timing-sensitive, so on a real dev server: the time-skipping server may skip an
activity's timeout while the test waits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment

from tests.support.waiting import until
from tether import Agent, AgentRegistry, AgentResult, AgentRun, LlmPolicy
from tether._cli.views import look_at, status_text
from tether._policies import ModelOptions
from tether._wire import LLM_ACTIVITY
from tether.testing import ScriptedLLM, Slow, Streamed, say, worker
from tether.worker import WorkerTuning

QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    maximum_interval=timedelta(milliseconds=500),
    maximum_attempts=3,
)
# Nothing for a second is a stall; a reply may take half a minute in all.
WATCHFUL = Agent(
    name="watchful",
    instructions="Be helpful.",
    llm=LlmPolicy(
        stall_timeout=timedelta(seconds=1), timeout=timedelta(seconds=30), retry=QUICK_RETRY
    ),
)
CAPPED = Agent(
    name="capped",
    instructions="Be brief.",
    model="small",
    llm=LlmPolicy(
        max_tokens=300,
        fallback_models=["thinker"],
        per_model={"thinker": ModelOptions(max_tokens=20_000)},
        retry=QUICK_RETRY,
    ),
)
DEFAULTS = Agent(name="defaults", instructions="Be helpful.")
AGENTS = AgentRegistry([WATCHFUL, CAPPED, DEFAULTS])


async def run_of(
    env: WorkflowEnvironment, llm: ScriptedLLM, agent: str
) -> tuple[AgentResult, WorkflowHandle[Any, Any]]:
    async with worker(env.client, AGENTS, llm) as w:
        run = await AgentRun.start(
            env.client, agent, "Tell me about the lamp.", task_queue=w.task_queue
        )
        return await run.result(), run.handle


async def attempts_and_failures(
    handle: WorkflowHandle[Any, Any],
) -> list[tuple[int, str]]:
    """Each model call's attempts, and the type and message of the failure before its last."""
    events = (await handle.fetch_history()).events
    calls = {
        e.event_id
        for e in events
        if e.activity_task_scheduled_event_attributes.activity_type.name == LLM_ACTIVITY
    }
    found = []
    for event in events:
        started = event.activity_task_started_event_attributes
        if event.HasField("activity_task_started_event_attributes") and (
            started.scheduled_event_id in calls
        ):
            failure = started.last_failure
            kind = failure.application_failure_info.type
            found.append((started.attempt, f"{kind}: {failure.message}" if kind else ""))
    return found


async def test_a_slow_reply_that_keeps_coming_is_not_a_stall(dev_env: WorkflowEnvironment) -> None:
    """40 words 0.1 s apart: four times the stall timeout in all, never a second silent."""
    with ScriptedLLM() as llm:
        text = "word " * 40
        llm.enqueue(Streamed(say(text), delay=0.1))
        result, handle = await run_of(dev_env, llm, "watchful")
    assert result.status == "completed" and result.answer == text
    assert await attempts_and_failures(handle) == [(1, "")]
    assert llm.requests[0].stream  # read as a stream, so that its pieces count


async def test_a_silent_provider_is_a_stall_and_is_retried(dev_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(Slow(3, say("too late")), say("on time"))
        result, handle = await run_of(dev_env, llm, "watchful")
    assert result.answer == "on time"
    [(attempt, failure)] = await attempts_and_failures(handle)
    assert attempt == 2
    assert failure.startswith("LlmTimeout: ") and "LlmPolicy.stall_timeout" in failure


async def test_replies_are_capped_by_default_and_per_model(dev_env: WorkflowEnvironment) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(say("hello"))
        await run_of(dev_env, llm, "defaults")
        llm.models = {"thinker"}  # the agent's own model is gone: its fallback answers
        llm.enqueue(say("hello"))
        await run_of(dev_env, llm, "capped")
    caps = [(r.model, r.body.get("max_completion_tokens")) for r in llm.requests]
    assert caps == [
        ("tether-scripted", 2048),  # the documented default
        ("small", 300),
        ("thinker", 20_000),
    ]


# A reply takes a second; an attempt may take 2 s in all (4 s less the client's margin),
# and is not retried.
ONE_SECOND_REPLIES = Agent(
    name="one-second",
    instructions="Be helpful.",
    llm=LlmPolicy(timeout=timedelta(seconds=4), retry=RetryPolicy(maximum_attempts=1)),
)
RUNS = 4


async def four_runs_on_one_slot(
    env: WorkflowEnvironment, tuning: WorkerTuning, *, while_waiting: bool = False
) -> tuple[list[str], list[str]]:
    """Four runs at once against a one-slot server: how each ended, and (if asked) what
    `tether status` showed of the last run while the others were answered."""
    shown: list[str] = []
    with ScriptedLLM(responder=lambda _: Slow(1.0, say("done")), slots=1) as llm:
        registry = AgentRegistry([ONE_SECOND_REPLIES])
        async with worker(env.client, registry, llm, tuning=tuning) as w:
            handles = [
                (
                    await AgentRun.start(
                        env.client, ONE_SECOND_REPLIES, "hello", task_queue=w.task_queue
                    )
                ).handle
                for _ in range(RUNS)
            ]
            if while_waiting:

                async def shows_a_queued_call() -> bool:
                    look = await look_at(env.client, handles[-1])
                    shown[:] = status_text(handles[-1].id, look).splitlines()
                    return any(c.queued for c in look.model_calls)

                await until(shows_a_queued_call, "the last run never showed a queued call")
            ended: list[str] = []
            for handle in handles:
                try:
                    ended.append((await handle.result()).status)
                except WorkflowFailureError as e:
                    ended.append(f"failed: {e.cause}")
    return ended, shown


async def test_calls_beyond_the_model_slots_wait_in_temporal(dev_env: WorkflowEnvironment) -> None:
    ended, shown = await four_runs_on_one_slot(
        dev_env, WorkerTuning(max_concurrent_llm_calls=1), while_waiting=True
    )
    assert ended == ["completed"] * RUNS
    assert any(line.strip().startswith("queued for ") for line in shown), shown


async def test_without_a_limit_calls_time_out_in_the_servers_queue(
    dev_env: WorkflowEnvironment,
) -> None:
    """What the limit prevents: the third and fourth requests wait in the server past
    their attempt's 2 s."""
    ended, _ = await four_runs_on_one_slot(dev_env, WorkerTuning())
    assert ended.count("completed") < RUNS
    assert any("LlmTimeout" in status for status in ended)
