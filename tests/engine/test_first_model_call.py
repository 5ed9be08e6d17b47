"""A run started as Tether's clients start it (`AgentInput.generation`) records its
agent's spec with its first model call: the worker completes that call from the agent's
spec and returns the spec with the reply. These tests check that the call keeps every
rule the agent's own calls keep (its retry policy, its fallback models, its structured
output, the models it runs, its budgets), with no `tether.describe_agent` activity
unless the first call could not record the spec."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.llm_agents import LIMITED_AGENTS, REGISTRY
from tether import AgentResult, AgentRun
from tether._run_io import INPUT_GENERATION
from tether._wire import DESCRIBE_AGENT_ACTIVITY, LLM_ACTIVITY
from tether.testing import Fail, ScriptedLLM, call_tools, say, worker


async def activities(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, int]]:
    """Each activity the run scheduled, and the attempts its last start was."""
    names: dict[int, str] = {}
    attempts: dict[int, int] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            attempts[started.scheduled_event_id] = started.attempt
    return [(name, attempts.get(i, 0)) for i, name in names.items()]


async def result_of(
    env: WorkflowEnvironment, llm: ScriptedLLM, agent: str, **fields: Any
) -> tuple[AgentResult, list[tuple[str, int]]]:
    registry = LIMITED_AGENTS if agent == "limited" else REGISTRY
    async with worker(env.client, registry, llm) as w:
        handle = await env.client.start_workflow(
            "AgentWorkflow",
            {"agent": agent, "prompt": "hello", "generation": INPUT_GENERATION, **fields},
            id=f"first-{uuid.uuid4().hex[:8]}",
            task_queue=w.task_queue,
            result_type=AgentResult,
        )
        try:
            result: AgentResult = await handle.result()
        finally:
            done = await activities(handle)
    return result, done


async def test_the_first_call_records_the_spec_and_answers(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(say('{"category": "refund", "order_id": "A-1"}'))
    result, done = await result_of(ts_env, llm, "triage")
    assert result.status == "completed" and result.output == {
        "category": "refund",
        "order_id": "A-1",
    }
    assert done == [(LLM_ACTIVITY, 1)]  # no describe activity
    [request] = llm.requests
    assert request.messages[0]["role"] == "system"  # the agent's instructions, first
    assert request.messages[0]["content"].startswith("Classify the support ticket.")


async def test_a_missing_model_falls_back_after_the_spec_is_recorded(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(models={"backup-model"}) as llm:
        llm.enqueue(say("Served by the backup."))
        result, done = await result_of(ts_env, llm, "with-fallback")
    assert result.answer == "Served by the backup." and result.model == "backup-model"
    assert [r.model for r in llm.requests] == ["primary-model", "backup-model"]
    assert [s.reason for s in result.model_switches] == ["model not found"]
    assert [name for name, _ in done] == [LLM_ACTIVITY, DESCRIBE_AGENT_ACTIVITY, LLM_ACTIVITY]


async def test_the_first_call_keeps_the_agents_retry_policy(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    # The agent allows 5 attempts (LlmPolicy's default policy, which the first call runs
    # under before the agent is known, would make 10); then its fallback model answers.
    llm.enqueue(*[Fail(503)] * 5, say("Backup here."))
    result, done = await result_of(ts_env, llm, "with-fallback")
    assert result.answer == "Backup here."
    assert [r.model for r in llm.requests] == ["primary-model"] * 5 + ["backup-model"]
    assert result.model_switches[0].reason.startswith("retries exhausted")
    assert done[0] == (LLM_ACTIVITY, 5)


async def test_a_model_the_agent_does_not_run_is_refused_before_any_call(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await result_of(ts_env, llm, "limited", model="expensive-model")
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "does not run model 'expensive-model'" in cause.message
    assert llm.request_count == 0


async def test_a_run_cannot_raise_the_agents_budgets(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    # The agent allows 2 model calls per message; the input asks for 50.
    llm.responder = lambda messages: call_tools(("ping", {}))
    result, _ = await result_of(ts_env, llm, "limited", max_turns=50)
    assert result.status == "max_turns" and result.turns == 2


async def test_tether_clients_start_runs_that_record_the_spec_with_the_first_call(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(say("hi"))
    async with worker(ts_env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(
            ts_env.client, "quick", "hello", task_queue=w.task_queue, acting_for=CUSTOMER
        )
        assert (await run.result()).answer == "hi"
        assert [name for name, _ in await activities(run.handle)] == [LLM_ACTIVITY]


async def test_a_budget_the_first_call_spends_ends_the_run_after_its_turn(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    # The first call is made before the budgets are known; its reply is still turn 1,
    # and the budget it spends ends the run before turn 2.
    llm.responder = lambda messages: call_tools(("ping", {}))
    result, _ = await result_of(ts_env, llm, "limited", max_total_tokens=1)
    assert (result.status, result.turns) == ("max_tokens", 1)
