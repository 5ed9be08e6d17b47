"""The refund pipeline's branches on the time-skipping server, driven by the offline
scripted model: refunded, refused (policy, or not a refund), approval granted and
rejected, missing order; judged by the shop database and the pipeline's result."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.shop_db import connect
from support_desk import REGISTRY
from support_desk.pipeline_agents import TRIAGE, WRITER
from support_desk.scripts import SCRIPTS
from tests.support.approvals import approval
from tests.support.runs import key_of
from tether.testing import ScriptedLLM, wait_for_approvals, worker
from workflows.refund_pipeline import RefundPipelineWorkflow
from workflows.refund_pipeline_types import RefundResult, RefundTicket

Pipeline = WorkflowHandle[RefundPipelineWorkflow, RefundResult]
# Who the demo's tickets are from: Ada Lovelace owns every order of the seeded shop.
CUSTOMER = "C-1"


@asynccontextmanager
async def pipeline_run(env: WorkflowEnvironment, ticket: str) -> AsyncIterator[Pipeline]:
    """A pipeline run on the offline model, started; the worker runs while the block does."""
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(env.client, REGISTRY, llm) as w:
            yield await env.client.start_workflow(
                RefundPipelineWorkflow.run,
                RefundTicket(text=ticket, acting_for=CUSTOMER),
                id=f"pipeline-{uuid.uuid4()}",
                task_queue=w.task_queue,
            )
        steps = [r.messages[0]["content"] for r in llm.requests]
        # Exactly two model calls, whatever the branch: read the ticket, write the reply.
        assert steps == [TRIAGE.instructions, WRITER.instructions]
        triage_format = llm.requests[0].body["response_format"]["json_schema"]
        assert triage_format["name"] == "Triage"


def emails(shop: Path) -> list[tuple[str, str]]:
    with connect(shop) as db:  # seeds the shop if no tool has run yet
        return [(r["to_address"], r["body"]) for r in db.execute("SELECT * FROM outbox")]


def refunds(shop: Path) -> list[str]:
    with connect(shop) as db:
        return [r["idempotency_key"] for r in db.execute("SELECT * FROM refunds")]


async def test_a_small_refund_is_made_and_confirmed_without_asking(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    async with pipeline_run(ts_env, "Order A-1001 arrived broken, I want my money back.") as run:
        result = await run.result()

    assert result.outcome == "refunded"
    assert result.refunded == 42.0 and result.approvals == 0
    assert result.llm_calls == 2 and result.usage.total_tokens > 0
    # The agent's idempotency key scheme: the run's own, one turn, the step's call id.
    assert refunds(shop_db) == [key_of(run, 1, "issue_refund")]
    ((to, body),) = emails(shop_db)
    assert to == "ada@example.com" and body == result.answer
    assert "$42.00" in body


@pytest.mark.parametrize(
    ("ticket", "outcome", "told"),
    [
        (
            "My keyboard from order A-1002 is faulty, refund please.",
            "refused",
            "outside the 30-day refund window",  # the policy, applied in code
        ),
        ("Where is my desk lamp? Order A-1003.", "refused", "A-1003 (Desk lamp) is shipped"),
        ("Order A-9999 arrived broken, refund it.", "missing_order", "find order A-9999"),
        ("My teapot arrived broken, refund it please.", "missing_order", "names no order"),
    ],
)
async def test_no_refund_when_the_ticket_does_not_earn_one(
    ts_env: WorkflowEnvironment, shop_db: Path, ticket: str, outcome: str, told: str
) -> None:
    async with pipeline_run(ts_env, ticket) as run:
        result = await run.result()

    assert result.outcome == outcome
    assert told in result.answer
    assert result.approvals == 0
    assert refunds(shop_db) == [] and emails(shop_db) == []


async def test_a_large_refund_waits_for_a_person_who_approves_it(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    async with pipeline_run(ts_env, "Order A-1004: the headphones are damaged, refund me.") as run:
        (pending,) = await wait_for_approvals(run)
        state = await run.query(RefundPipelineWorkflow.state)
        assert refunds(shop_db) == []  # nothing happens before the decision
        await run.execute_update(RefundPipelineWorkflow.decide, approval(run, pending))
        result = await run.result()

    assert state.status == "awaiting_approval"
    assert pending.tool == "issue_refund"
    assert json.loads(pending.arguments)["order_id"] == "A-1004"
    assert result.outcome == "refunded" and result.refunded == 899.0
    assert result.approvals == 1
    assert [to for to, _ in emails(shop_db)] == ["ada@example.com"]


async def test_a_refund_nobody_approves_is_rejected_after_a_day(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    async with pipeline_run(ts_env, "Order A-1004: the headphones are damaged, refund me.") as run:
        result = await run.result()  # the time-skipping server skips the 24 h wait

    assert result.outcome == "rejected" and result.approvals == 1
    assert refunds(shop_db) == []


async def test_invalid_input_fails_the_run_at_once(ts_env: WorkflowEnvironment) -> None:
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(ts_env.client, REGISTRY, llm) as w:
            handle = await ts_env.client.start_workflow(
                "RefundPipelineWorkflow",
                {"ticket": ""},
                id=f"bad-{uuid.uuid4()}",
                task_queue=w.task_queue,
            )
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "text: String should have at least 1 character" in cause.message
    assert llm.request_count == 0


async def test_a_rejected_refund_is_not_made(ts_env: WorkflowEnvironment, shop_db: Path) -> None:
    async with pipeline_run(ts_env, "Order A-1004: the headphones are damaged, refund me.") as run:
        (pending,) = await wait_for_approvals(run)
        await run.execute_update(
            RefundPipelineWorkflow.decide, approval(run, pending, approve=False, reason="too much")
        )
        result = await run.result()

    assert result.outcome == "rejected"
    assert "declined" in result.answer
    assert refunds(shop_db) == [] and emails(shop_db) == []
