"""`pipeline`: run a support ticket through the refund pipeline and follow it."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from temporalio.client import WorkflowFailureError, WorkflowHandle

from cli.common import UserError, check_id, emit_json
from cli.follow import Approver, Progress, follow
from cli.run import announce, report_failure, start_once
from tether.temporal import connect
from tether.visibility import run_summary
from workflows.pipeline import RefundPipelineWorkflow
from workflows.pipeline_seam import PipelineInput, PipelineResult, PipelineState

PipelineHandle = WorkflowHandle[RefundPipelineWorkflow, PipelineResult]
NAME = "refund-pipeline"


P = TypeVar("P", bound=argparse.ArgumentParser)  # starter.py's own parser class


def add_pipeline_command(commands: argparse._SubParsersAction[P]) -> None:
    help = "run a support ticket through the refund pipeline and follow it"
    sub = commands.add_parser("pipeline", help=help, description=help)
    sub.set_defaults(run=cmd_pipeline)
    sub.add_argument("ticket", help="the customer's message")
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.add_argument("--model", help="override the model of the LLM steps")
    sub.add_argument(
        "--approve-above",
        type=float,
        metavar="AMOUNT",
        default=PipelineInput.model_fields["approval_above"].default,
        help="refunds above this wait for a person (%(default)s)",
    )
    sub.add_argument(
        "--approval-timeout", type=float, metavar="SECONDS", help="then the refund is rejected"
    )
    sub.add_argument("--id", help=f"workflow id (default: {NAME}-<random>)")
    sub.add_argument("--detach", action="store_true", help="start and return at once")
    sub.add_argument("--yes", action="store_true", help="approve the refund if asked, unasked")


async def cmd_pipeline(args: argparse.Namespace) -> int:
    try:
        params = PipelineInput(
            ticket=args.ticket.strip(),
            model=args.model,
            approval_above=args.approve_above,
            **(
                {"approval_timeout_seconds": args.approval_timeout} if args.approval_timeout else {}
            ),
        )
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise UserError(f"invalid {first['loc'][0]}: {first['msg']}") from None
    if args.id is not None:
        check_id(args.id)
    client = await connect()
    handle: PipelineHandle = await start_once(
        client,
        RefundPipelineWorkflow.run,
        params,
        args.id or f"{NAME}-{uuid.uuid4().hex[:8]}",
        summary=run_summary(NAME, params.ticket),
        details=f"**Ticket**\n\n{params.ticket[:2000]}",
    )
    workflow_id = handle.id
    link = await announce(client, handle, NAME, args)
    if args.detach:
        return 0
    approver = Approver(workflow_id, ask=sys.stdin.isatty(), approve_all=args.yes)
    return await finish_pipeline(handle, approver, link, as_json=args.json)


async def finish_pipeline(
    handle: PipelineHandle, approver: Approver, link: str, *, as_json: bool
) -> int:
    """Follow a pipeline run to its end, printing its steps, then its outcome."""
    try:
        result = await follow(handle, approver, pipeline_progress(handle, quiet=as_json))
    except WorkflowFailureError as e:
        return report_failure(handle.id, link, e, as_json=as_json)
    if as_json:
        emit_json({"workflow_id": handle.id, "url": link, **result.model_dump()})
        return 0
    print(f"\n{result.answer}\n")
    print(
        f"outcome {result.outcome} · {result.llm_calls} LLM calls · "
        f"{result.usage.total_tokens} tokens · "
        f"{result.approvals} approval{'' if result.approvals == 1 else 's'} asked · "
        f"model {result.model}"
    )
    print(f"workflow id: {handle.id}\nweb UI: {link}")
    return 0


def pipeline_status_text(workflow_id: str, state: PipelineState) -> str:
    lines = [
        f"{workflow_id} · {NAME} · {state.status}",
        f"  {state.llm_calls} LLM calls · {state.usage.total_tokens} tokens",
        *(f"  · {step}" for step in state.steps),
    ]
    for call in state.pending_approvals:
        lines.append(
            f"  waiting for approval: {call.tool}({call.arguments}) · call {call.call_id}"
            f" · until {call.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    return "\n".join(lines)


def pipeline_progress(handle: PipelineHandle, *, quiet: bool) -> Callable[[], Awaitable[Progress]]:
    async def progress() -> Progress:
        state = await handle.query(RefundPipelineWorkflow.state)
        return state.pending_approvals, [] if quiet else [f"  · {s}" for s in state.steps]

    return progress
