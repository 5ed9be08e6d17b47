"""Tool calls that wait for a person: approved, rejected, edited, or timed out after a
durable wait, and decisions the workflow refuses before they reach history.

The time-skipping server runs these: a day-long wait fires in milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.support.approvals import APPROVER, approval
from tests.support.ledger import CUSTOMER, connect, count_rows
from tests.support.order_desk import ORDER_DESK, REGISTRY, order_desk_script
from tests.support.waiting import first
from tether import AgentRegistry, AgentResult, AgentRun
from tether.testing import ScriptedLLM, call_tools, say, wait_for_approvals, worker
from tether.workflow import AgentWorkflow

REFUND_PROMPT = "Order A-1001 arrived broken, I want my money back."
Handle = WorkflowHandle[AgentWorkflow, AgentResult]


@asynccontextmanager
async def refund_run(
    env: WorkflowEnvironment,
    llm: ScriptedLLM,
    agents: AgentRegistry = REGISTRY,
    **options: Any,
) -> AsyncIterator[Handle]:
    """An order-desk run on `llm`, started with `options` (of `AgentRun.start`); the
    worker runs while the block does. The tests decide its calls through the handle, as
    any client may."""
    async with worker(env.client, agents, llm) as w:
        run = await AgentRun.start(
            env.client, "order-desk", REFUND_PROMPT, task_queue=w.task_queue, acting_for=CUSTOMER,
            **options,
        )  # fmt: skip
        yield run.handle


async def time_into_run(handle: Handle, kind: EventType.ValueType) -> timedelta:
    """How long after the run's start, on its own clock, its one event of `kind` came."""
    events = [e async for e in handle.fetch_history_events()]
    (event,) = [e for e in events if e.event_type == kind]
    return event.event_time.ToDatetime() - events[0].event_time.ToDatetime()


def refusal(error: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    """Why the run's validator refused a decision."""
    cause = error.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


def last_tool_result(llm: ScriptedLLM) -> str:
    return str([m for m in llm.requests[-1].messages if m["role"] == "tool"][-1]["content"])


async def test_an_approval_that_never_comes_is_a_rejection_after_24_hours(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    with ScriptedLLM(order_desk_script) as llm:
        async with refund_run(ts_env, llm) as handle:
            (pending,) = await wait_for_approvals(handle)
            state = await handle.query(AgentWorkflow.state)
            result = await handle.result()

    assert state.status == "awaiting_approval"
    assert pending.tool == "issue_refund"
    assert json.loads(pending.arguments)["order_id"] == "A-1001"
    # The day passed on the run's clock (slept for real, the test's timeout ends it).
    waited = await time_into_run(handle, EventType.EVENT_TYPE_TIMER_FIRED)
    assert timedelta(hours=24) <= waited < timedelta(hours=25)
    assert result.status == "completed"
    assert "Nobody approved this call within 24 hours" in last_tool_result(llm)
    assert result.answer is not None and "can't refund order A-1001" in result.answer
    assert count_rows(ledger, "refunds") == 0
    assert count_rows(ledger, "notices") == 0


async def test_an_approval_after_three_days_is_honoured(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    with ScriptedLLM(order_desk_script) as llm:
        async with refund_run(ts_env, llm, approval_timeout=timedelta(days=7)) as handle:
            (pending,) = await wait_for_approvals(handle)
            await ts_env.sleep(timedelta(days=3))
            decided = await handle.execute_update(AgentWorkflow.decide, approval(handle, pending))
            result = await handle.result()

    assert decided.call_id == pending.call_id
    assert result.status == "completed"
    assert result.answer is not None and "refunded $42.00" in result.answer
    assert count_rows(ledger, "refunds") == 1
    assert count_rows(ledger, "notices") == 1
    waited = await time_into_run(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert timedelta(days=3) <= waited < timedelta(days=4)


async def test_refused_decisions_leave_no_trace_in_history(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    with ScriptedLLM(order_desk_script) as llm:
        async with refund_run(ts_env, llm) as handle:
            (pending,) = await wait_for_approvals(handle)
            refusals = []
            for decision in [
                approval(handle, pending, call_id="call_nope"),
                approval(handle, pending, approve=False, arguments="{}"),
                approval(handle, pending, arguments="[1]"),
            ]:
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await handle.execute_update(AgentWorkflow.decide, decision)
                assert isinstance(refused.value.cause, ApplicationError)
                refusals.append(refused.value.cause.message)
            await handle.execute_update(
                AgentWorkflow.decide,
                approval(
                    handle, pending, call_id=None, approve=False, reason="the photo shows no damage"
                ),
            )
            with pytest.raises(WorkflowUpdateFailedError) as again:
                await handle.execute_update(AgentWorkflow.decide, approval(handle, pending))
            result = await handle.result()

    assert refusals == [
        f"no tool call 'call_nope' waits for approval (waiting: {pending.call_id})",
        "edited arguments only go with an approval",
        "edited arguments are refused: not a JSON object",
    ]
    assert isinstance(again.value.cause, ApplicationError)
    assert again.value.cause.message == f"tool call {pending.call_id!r} was already decided"
    assert "A person rejected this call: the photo shows no damage" in last_tool_result(llm)
    assert result.answer is not None and "can't refund" in result.answer
    assert count_rows(ledger, "refunds") == 0
    # Only the one decision that was taken is in history.
    events = [e async for e in handle.fetch_history_events()]
    update_events = [
        e.event_type
        for e in events
        if e.event_type
        in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        )
    ]
    assert update_events == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    ]
    assert all(b"call_nope" not in e.SerializeToString() for e in events)


async def test_approving_with_edited_arguments_runs_them_and_says_so(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    llm.enqueue(
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "customer is angry"})),
        say("Refunded."),
    )
    edited = '{"reason":"arrived damaged",  "order_id":"A-1001"}'
    async with refund_run(ts_env, llm) as handle:
        (pending,) = await wait_for_approvals(handle)
        refused = []
        for bad in ['{"order_id": 1001, "reason": "x"}', '{"order_id": "A-1001"}', edited + "x"]:
            with pytest.raises(WorkflowUpdateFailedError) as error:
                await handle.execute_update(
                    AgentWorkflow.decide, approval(handle, pending, call_id=None, arguments=bad)
                )
            refused.append(refusal(error))
        runs = await handle.execute_update(
            AgentWorkflow.decide, approval(handle, pending, call_id=None, arguments=edited)
        )
        result = await handle.result()

    assert refused[0] == "edited arguments are refused: order_id: must be of type string"
    assert refused[1] == "edited arguments are refused: reason: required"
    assert refused[2].startswith("edited arguments are refused: not valid JSON")
    # The decision's answer is what runs: the edit parsed and written out again.
    canonical = '{"reason": "arrived damaged", "order_id": "A-1001"}'
    assert runs.arguments == canonical and runs.digest != pending.digest
    assert result.status == "completed"
    note, refund = last_tool_result(llm).split("\n", 1)
    assert note == f"A person approved this call with edited arguments: {canonical}"
    assert json.loads(refund)["reason"] == "arrived damaged"
    assert count_rows(ledger, "refunds") == 1


async def admitted(client: Client, handle: Handle, update_id: str) -> None:
    """Until the server holds update `update_id` for the run's next workflow task."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=handle.id), update_id=update_id
        ),
        wait_policy=WaitPolicy(
            lifecycle_stage=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )

    async def poll() -> object:
        return await client.workflow_service.poll_workflow_execution_update(request)

    # Not found (an RPCError) until the update's request has reached the server.
    await first(
        poll, lambda _: True, f"update {update_id} was never admitted", ignoring=(RPCError,)
    )


async def test_of_two_decisions_in_one_workflow_task_the_second_is_refused(
    dev_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # The case the validator's "already decided" check exists for: the first decision
    # is recorded while its call still waits, so only that check stops a second one
    # from replacing it (accepted, both callers told yes, the other choice carried out).
    llm.enqueue(
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "arrived broken"})),
        say("Refunded."),
    )
    async with refund_run(dev_env, llm) as handle:
        (pending,) = await wait_for_approvals(handle)
        queue = (await handle.describe()).task_queue
    # No worker now: both decisions wait at the server and reach the run together.
    decisions = {}
    for update_id, approve in [("approve", True), ("reject", False)]:
        decision = approval(handle, pending, approve=approve)
        decisions[update_id] = asyncio.create_task(
            handle.execute_update(AgentWorkflow.decide, decision, id=update_id)
        )
        await admitted(dev_env.client, handle, update_id)  # in this order
    async with worker(dev_env.client, REGISTRY, llm, queue=queue):
        approved = await decisions["approve"]
        with pytest.raises(WorkflowUpdateFailedError):
            await decisions["reject"]
        result = await handle.result()

    assert approved.call_id == pending.call_id
    assert result.status == "completed"
    assert count_rows(ledger, "refunds") == 1


async def test_a_call_id_reused_in_a_later_message_waits_for_its_own_decision(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # Some providers number calls per message: the second refund is another call, and
    # the approval given to the first must not carry it out without a person.
    llm.enqueue(
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"}), ids=["call_0"]),
        call_tools(("issue_refund", {"order_id": "A-1004", "reason": "broken"}), ids=["call_0"]),
        say("One refunded."),
    )
    async with refund_run(ts_env, llm) as handle:
        (first,) = await wait_for_approvals(handle)
        await handle.execute_update(AgentWorkflow.decide, approval(handle, first))
        (second,) = await wait_for_approvals(handle, within=10)
        # The first call's decision, sent again, is for other arguments than these.
        with pytest.raises(WorkflowUpdateFailedError) as stale:
            await handle.execute_update(AgentWorkflow.decide, approval(handle, first))
        await handle.execute_update(AgentWorkflow.decide, approval(handle, second, approve=False))
        result = await handle.result()

    assert [json.loads(p.arguments)["order_id"] for p in (first, second)] == ["A-1001", "A-1004"]
    assert (first.turn, second.turn) == (1, 2)
    assert "waits with other arguments than the ones decided on" in refusal(stale)
    assert result.status == "completed"
    with sqlite3.connect(ledger) as db:
        assert [row[0] for row in db.execute("SELECT order_id FROM refunds")] == ["A-1001"]


def refund_rows(db: Path) -> list[tuple[str, str | None, str | None]]:
    """Each refund's order, approver and reason (the ledger is seeded if no tool ran)."""
    with connect(db) as conn:
        query = "SELECT order_id, approved_by, approval_reason FROM refunds"
        return [tuple(row) for row in conn.execute(query)]


async def test_arguments_with_a_duplicate_key_are_refused_before_anyone_is_asked(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # The review's case: read as A-1001 by a person, run as A-1004 by json.loads.
    ambiguous = '{"order_id": "A-1001", "reason": "teapot arrived broken", "order_id": "A-1004"}'
    llm.enqueue(call_tools(("issue_refund", ambiguous)), say("I could not refund that."))
    async with refund_run(ts_env, llm) as handle:
        result = await handle.result()
        events = [e async for e in handle.fetch_history_events()]

    assert result.status == "completed"
    assert last_tool_result(llm) == (
        "Error: invalid arguments for issue_refund: the arguments are refused: "
        "the key 'order_id' appears twice"
    )
    assert refund_rows(ledger) == []
    # Nobody was asked: the run never waited (no timer), and nothing ran the tool.
    assert not any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)


async def test_a_decision_for_other_arguments_or_without_a_digest_is_refused(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    llm.enqueue(
        call_tools(("issue_refund", {"reason": "arrived broken", "order_id": "A-1001"})),
        say("Refunded."),
    )
    async with refund_run(ts_env, llm) as handle:
        (pending,) = await wait_for_approvals(handle)
        refusals = []
        for digest in ["0123456789abcdef", None]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(
                    AgentWorkflow.decide, approval(handle, pending, digest=digest)
                )
            refusals.append(refusal(refused))
        state = await handle.query(AgentWorkflow.state)
        assert refund_rows(ledger) == []
        await handle.execute_update(
            AgentWorkflow.decide, approval(handle, pending, reason="photo shows the crack")
        )
        result = await handle.result()

    assert state.status == "awaiting_approval"  # still waiting, nothing done
    # What the person is shown is what runs: parsed, written out again, with its digest.
    assert pending.arguments == '{"reason": "arrived broken", "order_id": "A-1001"}'
    assert pending.digest is not None and len(pending.digest) == 16
    assert refusals[0].startswith(f"call {pending.call_id!r} waits with other arguments")
    assert refusals[1] == (
        f"a decision on call {pending.call_id!r} must carry the digest of the arguments it "
        f"was shown ({pending.digest})"
    )
    assert result.status == "completed"
    # The audit row is written with the side effect: who approved, and why.
    assert refund_rows(ledger) == [("A-1001", APPROVER, "photo shows the crack")]


GUARDED = AgentRegistry([dataclasses.replace(ORDER_DESK, approvers=["alice@shop", "bob@shop"])])


async def test_only_a_listed_approver_other_than_the_starter_may_decide(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    llm.enqueue(
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"})), say("Done.")
    )
    async with refund_run(ts_env, llm, GUARDED, started_by="alice@shop") as handle:
        (pending,) = await wait_for_approvals(handle)
        refusals = []
        unsigned = approval(handle, pending, approver="bob@shop").model_copy(
            update={"signature": None, "key": None, "signed_at": None}
        )
        for decision in [
            unsigned,
            approval(handle, pending, approver="mallory@elsewhere"),
            approval(handle, pending, approver="alice@shop"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(AgentWorkflow.decide, decision)
            refusals.append(refusal(refused))
        assert refund_rows(ledger) == []
        await handle.execute_update(
            AgentWorkflow.decide, approval(handle, pending, approver="bob@shop")
        )
        result = await handle.result()

    assert refusals[0].startswith("decision refused: it is unsigned")
    assert refusals[1:] == [
        "'mallory@elsewhere' is not among this agent's approvers",
        "'alice@shop' started this run and may not decide its calls",
    ]
    assert result.status == "completed"
    assert refund_rows(ledger) == [("A-1001", "bob@shop", None)]


async def test_two_calls_with_one_id_in_a_message_each_wait_for_their_own_decision(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # Before: the person saw one call, and deciding it wedged the run (a KeyError on
    # every retry of the workflow task).
    llm.enqueue(
        call_tools(
            ("issue_refund", {"order_id": "A-1001", "reason": "broken"}),
            ("issue_refund", {"order_id": "A-1004", "reason": "broken"}),
            ids=["call_0", "call_0"],
        ),
        say("One refunded, one not."),
    )
    async with refund_run(ts_env, llm) as handle:
        first, second = await wait_for_approvals(handle, 2, within=10)
        await handle.execute_update(AgentWorkflow.decide, approval(handle, first))
        await handle.execute_update(AgentWorkflow.decide, approval(handle, second, approve=False))
        result = await handle.result()

    assert (first.call_id, second.call_id) == ("call_0", "call_0~2")
    assert result.status == "completed"
    tool_ids = [m["tool_call_id"] for m in llm.requests[-1].messages if m["role"] == "tool"]
    assert tool_ids == ["call_0", "call_0~2"]  # the provider sees the ids it is answered by
    assert refund_rows(ledger) == [("A-1001", APPROVER, None)]
