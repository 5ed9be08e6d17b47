"""Decisions a test makes itself: signed approvals of exactly one call (which a test may
then alter, to forge a decision for another), and approvers that run beside a test and
approve when asked, whatever dies meanwhile. Waiting for a call and approving it as a
person would is `tether.testing`'s (`wait_for_approvals`, `approve_all`)."""

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

from tether import AgentRun, ApprovalDecision, PendingApproval
from tether.testing import SIGNER, approve_all

# Who the tests' own decisions name; the tests' workers trust SIGNER to sign for anyone.
APPROVER = "approver@tests"
# One RPC of an approver: a query or a decision sent to a worker that was just killed
# waits for this, then is asked again (a lost answer must not stall the approval).
APPROVER_RPC_TIMEOUT = timedelta(seconds=15)

# Approvers run beside the test; kept here so they are not garbage-collected, and
# cancelled when it ends (a run that never asks would keep its approver polling).
_approvers: set[asyncio.Task[None]] = set()


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


def approve_when_asked(run: AgentRun) -> None:
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
        cause = getattr(error, "cause", None)  # why the run refused a decision
        logging.getLogger("tests.approver").error("approver gave up: %r (%r)", error, cause)


async def _approve_when_asked(run: AgentRun, within: float = 180) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (remaining := deadline - loop.time()) > 0:
        try:
            # Polling as a person would, not five times a second: fifty runs' approvers
            # are load enough on a two-core machine.
            await approve_all(run, within=remaining, interval=1.0, rpc_timeout=APPROVER_RPC_TIMEOUT)
            return
        except (
            RPCError,
            TimeoutError,
            WorkflowQueryFailedError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
        ):
            # The worker was killed mid-query or mid-decision: ask again.
            await asyncio.sleep(0.5)
        except WorkflowUpdateFailedError as e:
            if "already decided" in str(e.cause):
                return  # the decision landed before its answer was lost
            if "waits for approval" not in str(e.cause):
                raise
            # The call was seen waiting on a worker killed before its task was recorded;
            # the worker that took the run over had not reached the wait when the decision
            # came (refused, as a person's `tether approve` would be): ask again.
            await asyncio.sleep(0.5)
    raise TimeoutError(f"run {run.id} asked nobody for approval in {within:g} s")
