"""Tools act for the run's customer, whom its starter names, never the model: another
customer's order reads as not found, notices go only to the run's customer, and a key
found again with other arguments is refused rather than answered with another call's
effect. A reused workflow id gets keys of its own. Real runs in the time-skipping
server, the scripted model over HTTP, the order desk's real ledger."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from tests.support.approvals import approval
from tests.support.ledger import CUSTOMER, count_rows, seed_orders
from tests.support.order_desk import REGISTRY, SCRIPTS, UNATTENDED, issue_refund
from tests.support.order_flow import OrderRefundFlow
from tether import AgentRun, ApprovalDecision, ToolContext
from tether._activities.specs import RecordedSpecs
from tether._activities.tools import ToolActivities
from tether._arguments import digest_of
from tether._wire import ToolRequest
from tether.testing import OFFLINE_MODEL, ScriptedLLM, call_tools, say, wait_for_approvals, worker
from tether.workflow import PipelineInput, ToolCall, ToolOutcome


async def tool_results(
    env: WorkflowEnvironment, llm: ScriptedLLM, acting_for: str | None, *calls: tuple[str, object]
) -> list[str]:
    """What the tools answered to `calls` (one message) in a run acting for `acting_for`."""
    llm.enqueue(call_tools(*calls), say("Done."))  # type: ignore[arg-type]
    async with worker(env.client, UNATTENDED, llm) as w:
        run = await AgentRun.start(
            env.client, "order-desk", "help", task_queue=w.task_queue, acting_for=acting_for
        )
        await run.result()
    return [str(m["content"]) for m in llm.requests[-1].messages if m["role"] == "tool"]


async def test_a_tool_cannot_read_or_refund_another_customers_order(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    (graces,) = seed_orders(ledger, ["G-1001"])  # Grace Hopper's (C-2)
    theirs, missing, refund = await tool_results(
        ts_env,
        llm,
        CUSTOMER,  # Ada Lovelace
        ("lookup_order", {"order_id": graces}),
        ("lookup_order", {"order_id": "Z-9999"}),
        ("issue_refund", {"order_id": graces, "reason": "broken"}),
    )
    # Someone else's order reads exactly as one that does not exist.
    assert theirs == "Error: order 'G-1001' not found"
    assert missing == "Error: order 'Z-9999' not found"
    assert refund == "Error: order 'G-1001' not found"
    assert count_rows(ledger, "refunds") == 0
    [own] = await tool_results(ts_env, llm, "C-2", ("lookup_order", {"order_id": graces}))
    assert '"customer_name":"Grace Hopper"' in own


async def test_notices_go_only_to_the_runs_customer(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    notice = {"text": "Ada's order A-1001: Ceramic teapot, $42.00"}
    leaked, to_other, sent = await tool_results(
        ts_env,
        llm,
        CUSTOMER,
        ("notify", {"to": "attacker@example.net", **notice}),
        ("notify", {"to": "grace@example.com", **notice}),
        ("notify", {"to": "ADA@example.com", **notice}),
    )
    assert (
        leaked
        == to_other
        == ("Error: notices go only to this conversation's customer, at their address")
    )
    assert '"to":"ada@example.com"' in sent
    with sqlite3.connect(ledger) as db:
        assert [r[0] for r in db.execute("SELECT to_address FROM notices")] == ["ada@example.com"]


async def test_a_run_that_acts_for_nobody_reads_no_customers_data(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    [refused] = await tool_results(ts_env, llm, None, ("lookup_order", {"order_id": "A-1001"}))
    assert refused.startswith("Error: this conversation acts for no customer")


def test_a_key_reused_with_other_arguments_is_refused_not_answered(ledger: Path) -> None:
    key = f"default:wf:{uuid.uuid4()}:1:call_1"

    def refund(arguments: str) -> str:
        ctx = ToolContext(
            idempotency_key=key,
            workflow_id="wf",
            tool_call_id="call_1",
            arguments_digest=digest_of(arguments),
            acting_for=CUSTOMER,
        )
        return asyncio.run(issue_refund.invoke(arguments, ctx)).content

    first = refund('{"order_id": "A-1001", "reason": "broken"}')
    retried = refund('{"reason": "broken", "order_id": "A-1001"}')  # same value, other order
    other = refund('{"order_id": "A-1004", "reason": "broken"}')
    assert first == retried and '"order_id":"A-1001"' in first
    assert other == (
        "Error: this call's idempotency key was already used with other arguments; nothing was done"
    )
    with sqlite3.connect(ledger) as db:
        assert [r[0] for r in db.execute("SELECT order_id FROM refunds")] == ["A-1001"]


async def test_a_reused_workflow_id_does_not_get_the_earlier_runs_effect(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    # The review's case: a second pipeline run under a finished run's id, for another
    # order, got the first run's receipt and no refund of its own.
    workflow_id = f"reused-{uuid.uuid4().hex[:8]}"
    results = []
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(ts_env.client, REGISTRY, llm) as w:
            for text in ("Order A-1001 arrived broken, refund it.", "A-1004 is damaged, refund."):
                # A raw start: any client may reuse a closed run's id (AgentRun refuses to).
                run = await ts_env.client.start_workflow(
                    OrderRefundFlow.run,
                    PipelineInput(text=text, acting_for=CUSTOMER),
                    id=workflow_id,  # the client's default policy allows a closed run's id
                    task_queue=w.task_queue,
                )
                if "A-1004" in text:  # above the threshold: a person approves
                    (pending,) = await wait_for_approvals(run)
                    await run.execute_update(OrderRefundFlow.decide, approval(run, pending))
                results.append(await run.result())
    assert [(r.order_id, r.refunded) for r in results] == [("A-1001", 42.0), ("A-1004", 899.0)]
    with sqlite3.connect(ledger) as db:
        rows = db.execute("SELECT order_id, idempotency_key FROM refunds ORDER BY id").fetchall()
    assert [order for order, _ in rows] == ["A-1001", "A-1004"]
    assert len({key for _, key in rows}) == 2  # each run's key names its own run


def test_the_tool_activity_refuses_arguments_other_than_the_approved_ones(ledger: Path) -> None:
    # The last check before the side effect: the activity computes the digest of what it
    # is asked to run and compares it with the one the decision carries (what the person
    # was shown). `approved_digest` is what the workflow used to send: a digest of the
    # call's own arguments, which could not refuse them.
    activities = ToolActivities(REGISTRY, RecordedSpecs(OFFLINE_MODEL))
    approved = '{"order_id": "A-1001", "reason": "broken"}'

    def run(arguments: str) -> ToolOutcome:
        request = ToolRequest.model_validate(
            {
                "agent": "order-desk",
                "call": ToolCall(id="call_1", name="issue_refund", arguments=arguments),
                "idempotency_key": f"default:wf:{uuid.uuid4()}:1:call_1",
                "acting_for": CUSTOMER,
                "approval": ApprovalDecision(
                    call_id="call_1", approve=True, approver="bob@shop", digest=digest_of(approved)
                ),
                "approved_digest": digest_of(arguments),
            }
        )
        outcome: ToolOutcome = asyncio.run(ActivityEnvironment().run(activities.run_tool, request))
        return outcome

    swapped = run('{"order_id": "A-1004", "reason": "broken"}')
    assert (swapped.error, swapped.content) == (
        "rejected",
        "Error: not done. These arguments are not the ones a person approved.",
    )
    ran = run(approved)
    assert ran.error is None and '"order_id":"A-1001"' in ran.content
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT order_id, approved_by FROM refunds").fetchall() == [
            ("A-1001", "bob@shop")
        ]
