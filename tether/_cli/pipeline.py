"""`pipeline`: run a text (a ticket, a request) through a pipeline workflow and follow it.

A pipeline is any workflow built on `tether.Pipeline` that takes a `PipelineInput`; the
CLI starts it by its workflow type name and knows nothing else of it.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio.client import WorkflowFailureError, WorkflowHandle

from tether._cli.common import (
    UserError,
    check_id,
    decide_command,
    emit_json,
    person,
    shown_call,
)
from tether._cli.follow import Approver, Progress, follow
from tether._cli.run import add_acting_for, announce, check_taken, report_failure
from tether._client import RunExists, start_workflow
from tether._temporal import connect
from tether._visibility import run_summary
from tether._workflows.pipeline import PipelineInput, PipelineState

PipelineHandle = WorkflowHandle[Any, Any]
P = TypeVar("P", bound=argparse.ArgumentParser)  # the CLI's own parser class


def add_pipeline_command(
    commands: argparse._SubParsersAction[P], default_pipeline: str | None
) -> None:
    help = "run a text through a pipeline workflow (tether.Pipeline) and follow it"
    sub = commands.add_parser("pipeline", help=help, description=help)
    sub.set_defaults(run=cmd_pipeline)
    sub.add_argument("text", help="what the pipeline gets, e.g. a customer's message")
    default = default_pipeline or os.environ.get("TETHER_PIPELINE")
    sub.add_argument(
        "--workflow",
        default=default,
        help="the pipeline's workflow type (default: TETHER_PIPELINE"
        + (f", else {default_pipeline})" if default_pipeline else ")"),
    )
    sub.add_argument("--json", action="store_true", help="print JSON")
    sub.add_argument("--model", help="override the model of the LLM steps")
    add_acting_for(sub)
    sub.add_argument(
        "--approval-timeout", type=float, metavar="SECONDS", help="then an approval is rejected"
    )
    sub.add_argument("--id", help="workflow id (default: WORKFLOW-<random>)")
    sub.add_argument("--detach", action="store_true", help="start and return at once")
    sub.add_argument("--yes", action="store_true", help="approve what waits for a person, unasked")


async def cmd_pipeline(args: argparse.Namespace) -> int:
    if not args.workflow:
        raise UserError("name the pipeline with --workflow TYPE (or set TETHER_PIPELINE)")
    try:
        params = PipelineInput(
            text=args.text.strip(),
            model=args.model,
            acting_for=args.acting_for,
            started_by=person(),
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
    try:
        handle = await start_workflow(
            client,
            args.workflow,
            params,
            id=args.id or f"{args.workflow}-{uuid.uuid4().hex[:8]}",
            task_queue=None,
            summary=run_summary(args.workflow, params.text),
            details=f"**Input**\n\n{params.text[:2000]}",
        )
    except RunExists as e:
        raise UserError(f"{e} (--id)") from None
    await check_taken(client, handle)
    link = await announce(client, handle, args.workflow, args)
    if args.detach:
        return 0
    approver = Approver(handle.id, ask=sys.stdin.isatty(), approve_all=args.yes)
    return await finish_pipeline(handle, approver, link, as_json=args.json)


async def finish_pipeline(
    handle: PipelineHandle, approver: Approver, link: str, *, as_json: bool
) -> int:
    """Follow a pipeline run to its end, printing its steps, then its result."""
    try:
        result = await follow(handle, approver, pipeline_progress(handle, quiet=as_json))
    except WorkflowFailureError as e:
        return report_failure(handle.id, link, e, as_json=as_json)
    fields = result if isinstance(result, dict) else {"result": result}
    if as_json:
        emit_json({"workflow_id": handle.id, "url": link, **fields})
        return 0
    answer = fields.get("answer")
    if answer:
        print(f"\n{answer}\n")
    print(result_line(fields))
    print(f"workflow id: {handle.id}\nweb UI: {link}")
    return 0


def result_line(fields: dict[str, Any]) -> str:
    """The result's short fields in one line: `outcome refunded · llm_calls 2 · ...`."""
    shown = [
        f"{key} {value}"
        for key, value in fields.items()
        if key not in ("answer", "steps") and isinstance(value, str | int | float)
    ]
    usage = fields.get("usage")
    if isinstance(usage, dict) and "total_tokens" in usage:
        shown.append(f"{usage['total_tokens']} tokens")
    return " · ".join(shown)


def pipeline_status_text(workflow_id: str, kind: str, state: PipelineState) -> str:
    lines = [
        f"{workflow_id} · {kind} · {state.status}",
        f"  {state.llm_calls} LLM calls · {state.usage.total_tokens} tokens",
        *(f"  · {step}" for step in state.steps),
    ]
    for call in state.pending_approvals:
        lines.append(
            f"  waiting for approval: {shown_call(call)}"
            f" · until {call.expires_at:%Y-%m-%d %H:%M} UTC\n"
            f"    to approve: {decide_command(workflow_id, call)}"
        )
    return "\n".join(lines)


def pipeline_progress(handle: PipelineHandle, *, quiet: bool) -> Any:
    async def progress() -> Progress:
        state: PipelineState = await handle.query("state", result_type=PipelineState)
        return state.pending_approvals, [] if quiet else [f"  · {s}" for s in state.steps]

    return progress
