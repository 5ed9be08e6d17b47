"""The refund pipeline's branches on the time-skipping server, driven by the offline
scripted model: refunded, refused (policy, or not a refund), approval granted and
rejected, missing order; judged by the shop database and the pipeline's result. Who
approves a refund is the `issue_refund` tool's approval policy: nobody under $50, a
person above $500, a judge model in between (a person when it refuses), each decision
recorded with its rule."""

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

from activities.refund_policy import REFUND_JUDGE
from activities.shop_db import connect
from support_desk import REGISTRY
from support_desk.pipeline_agents import TRIAGE, WRITER
from support_desk.scripts import SCRIPTS
from tests.support.approvals import APPROVER, approval
from tests.support.runs import key_of
from tether.approvals import DecidedCall
from tether.testing import ScriptedLLM, wait_for_approvals, worker
from workflows.refund_pipeline import RefundPipelineWorkflow
from workflows.refund_pipeline_types import RefundResult, RefundTicket

Pipeline = WorkflowHandle[RefundPipelineWorkflow, RefundResult]
# Who the demo's tickets are from: Ada Lovelace owns every order of the seeded shop.
CUSTOMER = "C-1"


@asynccontextmanager
async def pipeline_run(
    env: WorkflowEnvironment, ticket: str, *, judged: bool = False
) -> AsyncIterator[Pipeline]:
    """A pipeline run on the offline model, started; the worker runs while the block
    does; `judged`: the refund's judge model is asked too."""
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(env.client, REGISTRY, llm) as w:
            yield await env.client.start_workflow(
                RefundPipelineWorkflow.run,
                RefundTicket(text=ticket, acting_for=CUSTOMER),
                id=f"pipeline-{uuid.uuid4()}",
                task_queue=w.task_queue,
            )
        steps = [r.messages[0]["content"] for r in llm.requests if r.agent != REFUND_JUDGE]
        # Exactly two model calls, whatever the branch: read the ticket, write the reply;
        # and the judge's, in between, for a refund its rule sends to it.
        assert steps == [TRIAGE.instructions, WRITER.instructions]
        judge = [REFUND_JUDGE] if judged else []
        assert [r.agent for r in llm.requests] == [TRIAGE.name, *judge, WRITER.name]
        triage_format = llm.requests[0].body["response_format"]["json_schema"]
        assert triage_format["name"] == "Triage"


def emails(shop: Path) -> list[tuple[str, str]]:
    with connect(shop) as db:  # seeds the shop if no tool has run yet
        return [(r["to_address"], r["body"]) for r in db.execute("SELECT * FROM outbox")]


def refunds(shop: Path) -> list[str]:
    with connect(shop) as db:
        return [r["idempotency_key"] for r in db.execute("SELECT * FROM refunds")]


def approved_by(shop: Path) -> list[str]:
    """Who let each refund run, as the tool recorded it with the refund."""
    with connect(shop) as db:
        return [r["approved_by"] for r in db.execute("SELECT * FROM refunds")]


async def decision(run: Pipeline) -> DecidedCall:
    """The run's one decision on its refund."""
    (taken,) = (await run.query(RefundPipelineWorkflow.state)).decisions
    return taken


async def test_a_small_refund_is_made_and_confirmed_without_asking(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    async with pipeline_run(ts_env, "Order A-1001 arrived broken, I want my money back.") as run:
        result = await run.result()

        taken = await decision(run)

    assert result.outcome == "refunded"
    assert result.refunded == 42.0 and result.approvals == 0
    assert result.llm_calls == 2 and result.usage.total_tokens > 0
    # Nobody asked: the policy's rule decided, bound to the arguments that ran.
    assert (taken.approved, taken.decided_by) == (True, "policy (small refund)")
    assert taken.digest is not None and approved_by(shop_db) == ["policy (small refund)"]
    assert "approval: granted by policy (small refund) ($42.00)" in result.steps
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
        taken = await decision(run)

    assert state.status == "awaiting_approval"
    assert pending.tool == "issue_refund"
    assert json.loads(pending.arguments)["order_id"] == "A-1004"
    assert pending.policy is not None and pending.policy.rule == "large refund"
    assert result.outcome == "refunded" and result.refunded == 899.0
    assert result.approvals == 1
    assert (taken.decided_by, taken.policy) == (APPROVER, pending.policy)
    assert approved_by(shop_db) == [APPROVER]
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


async def test_a_refund_in_between_that_a_judge_approves_is_made_without_a_person(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    ticket = "Order A-1005: the espresso machine arrived broken, refund me."
    async with pipeline_run(ts_env, ticket, judged=True) as run:
        result = await run.result()
        taken = await decision(run)

    assert result.outcome == "refunded" and result.refunded == 249.0
    assert result.approvals == 0 and result.llm_calls == 2  # the judge is no LLM step
    assert taken.decided_by == "judge (refund a judge reviews)"
    assert taken.policy is not None and taken.policy.judge is not None
    assert taken.policy.judge.verdict == "approve"
    assert taken.policy.judge.reasoning.startswith("The customer reports damage")
    assert approved_by(shop_db) == ["judge (refund a judge reviews)"]


async def test_a_refund_in_between_that_the_judge_refuses_goes_to_a_person(
    ts_env: WorkflowEnvironment, shop_db: Path
) -> None:
    ticket = "Order A-1005: I changed my mind about the espresso machine, refund it."
    async with pipeline_run(ts_env, ticket, judged=True) as run:
        (pending,) = await wait_for_approvals(run)
        assert refunds(shop_db) == []  # the judge's no is not the last word, nor a yes
        await run.execute_update(RefundPipelineWorkflow.decide, approval(run, pending))
        result = await run.result()
        taken = await decision(run)

    assert pending.policy is not None and pending.policy.judge is not None
    assert pending.policy.rule == "refund a judge reviews"
    assert pending.policy.judge.verdict == "refuse"
    assert pending.policy.judge.reasoning.startswith("No damage is reported for this $249.0")
    assert result.outcome == "refunded" and result.approvals == 1
    assert taken.decided_by == APPROVER and taken.policy == pending.policy
    assert approved_by(shop_db) == [APPROVER]
