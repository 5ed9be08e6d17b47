"""`pipeline`: run a text (a ticket, a request) through a pipeline workflow and follow it.

A pipeline is any workflow built on `tether.Pipeline` that takes a `PipelineInput`; the
CLI starts it by its workflow type name and knows nothing else of it.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import TypeVar

from pydantic import ValidationError

from tether._cli.common import UserError, add_events_option, check_id, person
from tether._cli.ending import finish
from tether._cli.follow import Approver
from tether._cli.run import add_acting_for, announce, check_taken
from tether._run_handles import RunExists, start_workflow
from tether._temporal import connect
from tether._visibility import run_summary, start_details
from tether._workflows.pipeline import PipelineInput

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
    add_events_option(sub)


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
            details=start_details("Input", params.text),
            watch=not args.detach,
        )
    except RunExists as e:
        raise UserError(f"{e} (--id)") from None
    worker = await check_taken(client, handle)
    link = await announce(client, handle, args.workflow, args)
    if args.detach:
        return 0
    ask = sys.stdin.isatty() and not args.events
    approver = Approver(handle.id, ask=ask, approve_all=args.yes, namespace=client.namespace)
    return await finish(
        client, handle, approver, link, as_json=args.json, polling=worker, events=args.events
    )
