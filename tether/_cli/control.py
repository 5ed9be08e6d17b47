"""`approve`, `reject` and `cancel`: decisions a person sends to a run."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from tether._cli.common import UserError, emit_json, explained, open_run, prog
from tether._cli.follow import POLL_SECONDS, Waiting
from tether._cli.history import execution_status
from tether._seam import ApprovalDecision
from tether._validation import describe, json_object
from tether._workflows.agent import AgentWorkflow

CANCEL_WAIT_SECONDS = 30


async def cmd_decide(args: argparse.Namespace) -> int:
    approve = args.command == "approve"
    decision = checked_decision(
        call_id=args.call,
        approve=approve,
        reason=None if approve else args.reason,
        arguments=args.arguments if approve else None,
    )
    _, handle = await open_run(args.id)
    with explained(args.id):
        if args.wait is not None:
            await until_pending(handle, args.wait)
        # The workflow's validator refuses unknown or already decided calls.
        call = await handle.execute_update(AgentWorkflow.decide, decision)
    verb = "approved" if approve else "rejected"
    if args.json:
        emit_json({"workflow_id": args.id, "decision": verb, **call.model_dump(mode="json")})
    else:
        print(f"{verb} {call.tool}({call.arguments}) · call {call.call_id} · run {args.id}")
    return 0


async def until_pending(handle: WorkflowHandle[Any, Any], seconds: float) -> None:
    """Until a call of the run waits for a person (a script's `approve --wait`)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not (await handle.query("state", result_type=Waiting)).pending_approvals:
        if asyncio.get_running_loop().time() > deadline:
            raise UserError(f"no call of run {handle.id!r} waited for approval in {seconds:g} s")
        await asyncio.sleep(POLL_SECONDS)


def checked_decision(**fields: object) -> ApprovalDecision:
    """The decision, refused here if it is malformed: no round trip to the run, and
    the same words as the workflow's validator."""
    try:
        decision = ApprovalDecision.model_validate(fields)
        if decision.arguments is not None:
            json_object(decision.arguments, what="edited arguments")
    except ValidationError as e:
        raise UserError(f"invalid decision: {describe(e)}") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    return decision


async def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a run and wait (briefly) until it has stopped: its in-flight tools are
    cancelled first, and its transcript stays queryable."""
    _, handle = await open_run(args.id)
    with explained(args.id):
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            raise UserError(
                f"run {args.id!r} has already ended ({execution_status(described.status)})"
            )
        await handle.cancel()
    try:
        await asyncio.wait_for(handle.result(), CANCEL_WAIT_SECONDS)
    except WorkflowFailureError:
        pass  # how a cancelled run ends
    except TimeoutError:
        raise UserError(
            f"asked run {args.id!r} to cancel; it has not stopped after "
            f"{CANCEL_WAIT_SECONDS} s (is a worker running?)"
        ) from None
    if args.json:
        emit_json({"workflow_id": args.id, "status": "cancelled"})
    else:
        print(f"cancelled {args.id}; its transcript is kept: {prog()} transcript {args.id}")
    return 0
