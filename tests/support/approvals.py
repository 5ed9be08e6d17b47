"""Deciding a run's calls as a person would: signed decisions, waiting until calls wait
for one, and approvers that run beside a test and approve when asked, whatever dies
meanwhile."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from tests.support.waiting import first
from tether import AgentResult, ApprovalDecision, PendingApproval
from tether._cli.follow import Waiting
from tether.testing import SIGNER
from tether.workflow import AgentWorkflow

# Who the tests' decisions name; the tests' workers trust SIGNER to sign for anyone.
APPROVER = "approver@tests"
# One RPC of an approver: a query or an update sent to a worker that was just killed
# waits for this, then is asked again (a lost answer must not stall the approval).
APPROVER_RPC_TIMEOUT = timedelta(seconds=15)

# Approvers run beside the test; kept here so they are not garbage-collected, and
# cancelled when it ends (a run that never asks would keep its approver polling).
_approvers: set[asyncio.Task[None]] = set()


async def pending_approvals(
    handle: WorkflowHandle[Any, Any],
    count: int = 1,
    *,
    within: float = 30,
    interval: float = 0.2,
    rpc_timeout: timedelta | None = None,
) -> list[PendingApproval]:
    """Poll the run's state until `count` tool calls wait for a person (an agent run or a
    pipeline run: both answer the `state` query with their pending approvals).

    Queries do not unlock the time-skipping server's clock, so an approval timeout
    cannot fire while a test waits here (it would while awaiting the result).
    """

    async def waiting() -> list[PendingApproval]:
        state: Waiting = await handle.query("state", result_type=Waiting, rpc_timeout=rpc_timeout)
        return state.pending_approvals

    return await first(
        waiting,
        lambda pending: len(pending) >= count,
        f"{count} approvals never became pending",
        within=within,
        every=interval,
        ignoring=(RPCError,),  # not started yet, or its worker is being replaced
    )


async def approve_all(
    handle: WorkflowHandle[AgentWorkflow, AgentResult],
    count: int = 1,
    *,
    within: float = 30,
    interval: float = 0.2,
    rpc_timeout: timedelta | None = None,
) -> list[PendingApproval]:
    """Approve the run's next `count` calls that wait for a person, as a person would
    (`interval` and `rpc_timeout` as in `pending_approvals`, the latter for each update too)."""
    pending = await pending_approvals(
        handle, count, within=within, interval=interval, rpc_timeout=rpc_timeout
    )
    for call in pending:
        await handle.execute_update(
            AgentWorkflow.decide, approval(handle, call), rpc_timeout=rpc_timeout
        )
    return pending


def approval(
    handle: WorkflowHandle[Any, Any], call: PendingApproval, **fields: object
) -> ApprovalDecision:
    """A person's approval of exactly `call` (its digest) of the run `handle` started, by
    APPROVER, signed with the key the tests' workers trust; a `call_id` or `digest`
    among `fields` replaces the call's after signing (a decision for another call)."""
    after: dict[str, object] = {n: fields.pop(n) for n in ("call_id", "digest") if n in fields}
    decision = ApprovalDecision.model_validate(
        {"call_id": call.call_id, "approve": True, "approver": APPROVER, **fields}
    )
    assert handle.first_execution_run_id, "sign for a run this test started"
    signed = SIGNER.sign(
        decision,
        call=call,
        namespace="default",
        workflow_id=handle.id,
        first_run_id=handle.first_execution_run_id,
    )
    return signed.model_copy(update=after)


def approve_when_asked(run: WorkflowHandle[AgentWorkflow, AgentResult]) -> None:
    """A person beside the test who approves the run's call when it asks, also across
    killed workers (cancelled when the test ends: see `cancel_approvers`)."""
    approver = asyncio.create_task(_approve_when_asked(run))
    _approvers.add(approver)
    approver.add_done_callback(_approvers.discard)
    approver.add_done_callback(_report_failure)


async def cancel_approvers() -> None:
    """Stop the approvers the test started."""
    for approver in list(_approvers):
        approver.cancel()
    await asyncio.gather(*_approvers, return_exceptions=True)


def _report_failure(approver: asyncio.Task[None]) -> None:
    # An approver that gave up leaves its run waiting: say why in the test's log.
    if not approver.cancelled() and (error := approver.exception()) is not None:
        cause = getattr(error, "cause", None)  # why the run refused an update
        logging.getLogger("tests.approver").error("approver gave up: %r (%r)", error, cause)


async def _approve_when_asked(
    run: WorkflowHandle[AgentWorkflow, AgentResult], within: float = 180
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            remaining = deadline - asyncio.get_running_loop().time()
            # Polling as a person would, not five times a second: fifty runs' approvers
            # are load enough on a two-core machine.
            await approve_all(run, within=remaining, interval=1.0, rpc_timeout=APPROVER_RPC_TIMEOUT)
            return
        except (RPCError, WorkflowQueryFailedError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # The worker was killed mid-query or mid-update: ask again.
            await asyncio.sleep(0.5)
        except WorkflowUpdateFailedError as e:
            if "already decided" in str(e.cause):
                return  # the update landed before its answer was lost
            raise
