"""The LLM boundary in whole runs: retries, Retry-After, fast failures, structured
output, fallback and cost, through the real openai client over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import model_replies
from tests.support.ledger import CUSTOMER
from tests.support.llm_agents import REGISTRY
from tether import AgentResult, AgentRun
from tether._pricing import ModelPrice, PriceTable
from tether._wire import LLM_ACTIVITY
from tether.testing import (
    Chaos,
    Drop,
    Fail,
    Garbage,
    ScriptedLLM,
    Slow,
    Step,
    call_tools,
    context_length_exceeded,
    rate_limited,
    say,
    unauthorized,
    worker,
)
from tether.workflow import AgentWorkflow


@asynccontextmanager
async def started(
    env: WorkflowEnvironment,
    llm: ScriptedLLM,
    agent: str,
    prompt: str = "hello",
    prices: PriceTable | None = None,
) -> AsyncIterator[WorkflowHandle[AgentWorkflow, AgentResult]]:
    """A run of `agent` with a worker serving it while the block runs."""
    async with worker(env.client, REGISTRY, llm, prices=prices) as w:
        run = await AgentRun.start(
            env.client, agent, prompt, id=f"llm-{uuid.uuid4()}", task_queue=w.task_queue,
            acting_for=CUSTOMER,
        )  # fmt: skip
        yield run.handle


async def run(
    env: WorkflowEnvironment,
    llm: ScriptedLLM,
    agent: str,
    prompt: str = "hello",
    prices: PriceTable | None = None,
) -> AgentResult:
    async with started(env, llm, agent, prompt, prices) as handle:
        return await handle.result()


async def run_failing(env: WorkflowEnvironment, llm: ScriptedLLM, agent: str) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failure:
        await run(env, llm, agent)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_three_server_errors_then_success(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(Fail(500), Fail(500), Fail(500), say("Hello!"))
    result = await run(ts_env, llm, "quick")
    assert (result.status, result.answer, result.turns) == ("completed", "Hello!", 1)
    assert llm.request_count == 4
    assert [r.status for r in llm.requests] == [500, 500, 500, 200]


async def test_broken_transports_are_retried(ts_env: WorkflowEnvironment, llm: ScriptedLLM) -> None:
    # 'quick' has a 3 s timeout: its client gives up after 1.5 s, before Temporal does.
    llm.enqueue(Garbage(), Drop(), Slow(2.5, say("late")), Fail(503), say("Made it."))
    result = await run(ts_env, llm, "quick")
    assert result.answer == "Made it."
    assert llm.request_count == 5


@pytest.mark.parametrize(
    "header", [{"retry_after": "2"}, {"retry_after_ms": 2000}], ids=["seconds", "milliseconds"]
)
async def test_rate_limit_waits_as_long_as_retry_after_says(
    dev_env: WorkflowEnvironment, llm: ScriptedLLM, header: dict[str, Any]
) -> None:
    # A real server: the delay between attempts is real time, measured at the LLM.
    llm.enqueue(rate_limited(**header), say("Thanks for waiting."))
    result = await run(dev_env, llm, "quick")
    assert result.answer == "Thanks for waiting."
    first, second = llm.requests
    gap = second.received_at - first.received_at
    # The agent's own backoff is 0.1 s; only the header explains a 2 s wait.
    assert 1.9 <= gap < 6, gap


async def test_a_zero_retry_after_retries_at_once(
    dev_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    # 'patient' backs off 30 s on its own: a provider's "retry after 0" overrides that.
    llm.enqueue(rate_limited(retry_after="0"), say("Right away."))
    result = await run(dev_env, llm, "patient")
    assert result.answer == "Right away."
    first, second = llm.requests
    assert second.received_at - first.received_at < 15


async def test_rate_limit_with_an_http_date_waits_until_that_date(
    dev_env: WorkflowEnvironment,
) -> None:
    # The date is set when the first request arrives (so worker start-up is not in the
    # wait), 3 to 4 s on: HTTP dates are in whole seconds.
    dates: list[datetime] = []

    def limited_until_a_date(messages: list[dict[str, Any]]) -> Step:
        if dates:
            return say("On time.")
        dates.append(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4))
        return rate_limited(retry_after=format_datetime(dates[0], usegmt=True))

    with ScriptedLLM(limited_until_a_date) as llm:
        result = await run(dev_env, llm, "quick")
    assert result.answer == "On time."
    _, second = llm.requests
    assert second.received_at >= dates[0].timestamp() - 0.05


async def test_unauthorized_fails_fast_naming_the_key(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(unauthorized())
    error = await run_failing(ts_env, llm, "quick")
    assert error.type == "AuthenticationFailed"
    assert "check OPENAI_API_KEY" in error.message
    assert llm.request_count == 1


async def test_context_length_is_not_retried(ts_env: WorkflowEnvironment, llm: ScriptedLLM) -> None:
    llm.enqueue(context_length_exceeded())
    async with started(ts_env, llm, "quick", "a very long story") as handle:
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        state = await handle.query(AgentWorkflow.state)
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == "ContextLengthExceeded"
    assert state.status == "failed"
    assert state.error is not None and state.error.startswith("ContextLengthExceeded: 400 from")
    assert llm.request_count == 1


async def test_structured_output_valid_first_time(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(say(json.dumps({"category": "refund", "order_id": "A-1001"})))
    result = await run(ts_env, llm, "triage", "A-1001 arrived broken")
    assert result.status == "completed"
    assert result.output == {"category": "refund", "order_id": "A-1001"}
    response_format = llm.requests[0].body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["properties"]["category"]["enum"] == [
        "refund",
        "shipping",
        "other",
    ]


async def test_structured_output_repaired_once(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        say('{"category": "complaint"}'),
        say('{"category": "shipping", "order_id": null}'),
    )
    result = await run(ts_env, llm, "triage", "where is my parcel?")
    assert result.status == "completed"
    assert result.output == {"category": "shipping", "order_id": None}
    assert result.turns == 2
    repair = llm.requests[1].messages[-1]
    assert repair["role"] == "user"
    assert "not a valid Triage" in repair["content"]
    assert "category: Input should be 'refund', 'shipping' or 'other'" in repair["content"]
    assert "order_id: Field required" in repair["content"]


async def test_structured_output_unrepairable(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(say("It is about a refund."), say("Refund, I think."))
    result = await run(ts_env, llm, "triage")
    assert result.status == "invalid_output"
    assert result.output is None
    assert result.answer == "Refund, I think."
    assert llm.request_count == 2  # one answer and one repair (output_repairs=1)


async def test_schema_in_the_prompt_for_servers_without_json_schema(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(say('{"category": "other", "order_id": null}'))
    result = await run(ts_env, llm, "triage-in-prompt")
    assert result.output == {"category": "other", "order_id": None}
    body = llm.requests[0].body
    assert "response_format" not in body
    assert "matching this JSON schema" in body["messages"][1]["content"]


async def test_fallback_when_the_primary_model_is_missing(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM(models={"backup-model"}) as llm:
        llm.enqueue(say("Served by the backup."))
        async with started(ts_env, llm, "with-fallback") as handle:
            result = await handle.result()
            described = await handle.describe()
    assert result.answer == "Served by the backup."
    assert result.model == "backup-model"
    assert [r.model for r in llm.requests] == ["primary-model", "backup-model"]
    assert [(s.from_model, s.to_model, s.reason) for s in result.model_switches] == [
        ("primary-model", "backup-model", "model not found")
    ]
    memo = await described.memo()
    assert memo["model"] == "backup-model"


async def test_fallback_when_retries_run_out(ts_env: WorkflowEnvironment, llm: ScriptedLLM) -> None:
    llm.enqueue(*[Fail(503)] * 5, say("Backup here."))
    result = await run(ts_env, llm, "with-fallback")
    assert result.answer == "Backup here."
    assert [r.model for r in llm.requests] == ["primary-model"] * 5 + ["backup-model"]
    assert result.model_switches[0].reason.startswith("retries exhausted")


async def test_usage_and_cost_per_call_and_per_run(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        Fail(500), say('{"category": "oops"}'), say('{"category": "other", "order_id": null}')
    )
    prices = PriceTable(prices={"tether-scripted": ModelPrice(input=2.0, output=8.0)})
    async with started(ts_env, llm, "triage", "hello", prices) as handle:
        result = await handle.result()
        replies = await model_replies(handle)
    assert len(replies) == 2  # the failed attempt is not a call
    reported = [r.total_tokens for r in llm.requests if r.status == 200]
    assert [r.usage.total_tokens for r in replies] == reported
    assert result.usage.total_tokens == sum(reported)
    expected = [
        (r.usage.prompt_tokens * 2.0 + r.usage.completion_tokens * 8.0) / 1e6 for r in replies
    ]
    assert [r.cost_usd for r in replies] == pytest.approx(expected)
    assert result.cost_usd == pytest.approx(sum(expected))


async def test_random_faults_at_a_rate_cost_only_retries(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM(chaos=Chaos(rate=0.5, seed=3)) as llm:
        llm.enqueue(say("first"))
        result = await run(ts_env, llm, "quick")
    statuses = [r.status for r in llm.requests]
    assert result.answer == "first"
    assert statuses[-1] == 200
    assert set(statuses[:-1]) == {500}  # seed 3 faults the first attempts
    assert len(statuses) > 1


async def test_model_calls_as_local_activities_skip_the_server_and_keep_the_seam(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        call_tools(("lookup_order", {"order_id": "A-1001"})),
        Fail(503),  # retried in the worker, as a regular activity would be by the server
        call_tools(("lookup_order", {"order_id": "A-1003"})),
        say("Your lamp has shipped."),
    )
    async with started(ts_env, llm, "local-llm", "Where is A-1003?") as handle:
        result = await handle.result()
        history = await handle.fetch_history()
        transcript = await handle.query(AgentWorkflow.transcript)

    assert result.status == "completed"
    assert result.answer == "Your lamp has shipped."
    assert [r.status for r in llm.requests] == [200, 503, 200, 200]
    # No model call after the first went through the server: each is a marker in
    # history. The first records the agent's spec, before the run knows its policy: a
    # regular activity. The model still saw the whole conversation every time.
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
    ]
    assert scheduled.count(LLM_ACTIVITY) == 1
    markers = [e for e in history.events if e.marker_recorded_event_attributes.marker_name]
    assert len(markers) >= result.turns - 1
    assert llm.requests[-1].messages == [m.to_openai() for m in transcript[:-1]]
