"""Start and follow Tether agent runs from the command line.

python starter.py run "Order A-1001 arrived broken, I want my money back."
python starter.py run "..." --agent support-desk --id my-run --detach --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from agents import DEFAULT_AGENT, REGISTRY
from tether.agents import UnknownAgentError
from tether.messages import Message
from tether.process import exit_now
from tether.seam import AgentInput, AgentResult, RunStatus
from tether.settings import SettingsError, task_queue, ui_url
from tether.temporal import TemporalUnreachable, connect
from tether.visibility import (
    AGENT_NAME_KEY,
    AGENT_STATUS_KEY,
    AGENT_TOKENS_KEY,
    AGENT_TURNS_KEY,
    run_summary,
)
from workflows.agent import AgentWorkflow

POLL_SECONDS = 0.25


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def run_link(client: Client, workflow_id: str, run_id: str | None) -> str:
    return f"{ui_url()}/namespaces/{client.namespace}/workflows/{workflow_id}/{run_id or ''}"


def parse_input(args: argparse.Namespace) -> AgentInput:
    try:
        REGISTRY.get(args.agent)
        return AgentInput(
            agent=args.agent, prompt=args.prompt.strip(), model=args.model, max_turns=args.max_turns
        )
    except UnknownAgentError as e:
        raise UserError(str(e)) from None
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise UserError(f"invalid {first['loc'][0]}: {first['msg']}") from None


async def cmd_run(args: argparse.Namespace) -> int:
    params = parse_input(args)
    client = await connect()
    workflow_id = args.id or f"{params.agent}-{uuid.uuid4().hex[:8]}"
    try:
        handle = await client.start_workflow(
            AgentWorkflow.run,
            params,
            id=workflow_id,
            task_queue=task_queue(),
            # An id names one conversation: never start a second run under it.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=run_summary(params.agent, params.prompt),
            static_details=f"**Prompt**\n\n{params.prompt[:2000]}",
        )
    except WorkflowAlreadyStartedError:
        raise UserError(
            f"a run with id {workflow_id!r} already exists; choose another --id"
        ) from None
    link = run_link(client, workflow_id, handle.result_run_id)
    if args.detach:
        if args.json:
            emit_json({"workflow_id": workflow_id, "run_id": handle.result_run_id, "url": link})
        else:
            print(f"started {workflow_id}\n  web UI: {link}")
        return 0
    if not args.json:
        print(f"▶ {params.agent} · {workflow_id}\n  web UI: {link}")
        await warn_if_no_worker(client)
    try:
        result = await follow(handle, quiet=args.json)
    except WorkflowFailureError as e:
        return report_failure(workflow_id, link, e, as_json=args.json)
    if args.json:
        emit_json(
            {
                "workflow_id": workflow_id,
                "run_id": handle.result_run_id,
                "url": link,
                **result.model_dump(),
            }
        )
    else:
        print(f"\n{result.answer or '(no answer)'}\n")
        cost = f" · ${result.cost_usd:.6f}" if result.cost_usd is not None else ""
        print(
            f"status {result.status} · {result.turns} turns · {result.usage.total_tokens} tokens"
            f"{cost} · model {result.model}"
        )
        print(f"workflow id: {workflow_id}\nweb UI: {link}")
    return 0 if result.status == "completed" else 1


async def follow(handle: WorkflowHandle[Any, AgentResult], *, quiet: bool) -> AgentResult:
    """Wait for the result, printing each new message of the transcript as it appears."""
    result_task = asyncio.create_task(handle.result())
    shown = turn = 0
    while True:
        done, _ = await asyncio.wait({result_task}, timeout=POLL_SECONDS)
        if not quiet:
            try:
                messages = await handle.query(AgentWorkflow.transcript)
            except RPCError:
                messages = []  # no worker yet, or the run just closed
            for message in messages[shown:]:
                if message.role == "assistant":
                    turn += 1
                line = describe(message, turn)
                if line:
                    print(line, flush=True)
            shown = max(shown, len(messages))
        if done:
            return result_task.result()


def report_failure(
    workflow_id: str, link: str, error: WorkflowFailureError, *, as_json: bool
) -> int:
    """A failed run: its error type and message (which say what to fix), exit status 1."""
    cause = error.cause
    kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    message = cause.message if isinstance(cause, FailureError) else str(error)
    if as_json:
        emit_json(
            {
                "workflow_id": workflow_id,
                "url": link,
                "status": "failed",
                "error": {"type": kind, "message": message},
            }
        )
    else:
        print(f"run {workflow_id} failed ({kind}): {message}\nweb UI: {link}", file=sys.stderr)
    return 1


def describe(message: Message, turn: int) -> str | None:
    if message.role == "assistant":
        calls = [f"  → {c.name}({c.arguments})" for c in message.tool_calls]
        return "\n".join([f"turn {turn}", *calls]) if calls else None
    if message.role == "tool":
        content = message.content or ""
        return f"  ← {content[:117] + '…' if len(content) > 118 else content}"
    return None


async def warn_if_no_worker(client: Client) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue()),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    if not response.pollers:
        print(
            f"  (no worker is polling task queue {task_queue()!r} yet; "
            "start one with `python worker.py`)",
            file=sys.stderr,
        )


async def cmd_list(args: argparse.Namespace) -> int:
    """Runs, newest first, filtered on Tether's search attributes."""
    clauses = ["WorkflowType = 'AgentWorkflow'"]
    if args.status:
        clauses.append(f"AgentStatus = '{args.status}'")
    if args.agent:
        try:
            REGISTRY.get(args.agent)  # also keeps the query free of stray quotes
        except UnknownAgentError as e:
            raise UserError(str(e)) from None
        clauses.append(f"AgentName = '{args.agent}'")
    client = await connect()
    rows = []
    async for run in client.list_workflows(" AND ".join(clauses), limit=args.limit):
        attributes = run.typed_search_attributes
        rows.append(
            {
                "workflow_id": run.id,
                "run_id": run.run_id,
                "agent": attributes.get(AGENT_NAME_KEY),
                "status": attributes.get(AGENT_STATUS_KEY),
                "turns": attributes.get(AGENT_TURNS_KEY),
                "tokens": attributes.get(AGENT_TOKENS_KEY),
                "started": run.start_time.isoformat(),
            }
        )
    if args.json:
        emit_json({"runs": rows})
        return 0
    if not rows:
        print("no runs match")
    for row in rows:
        print(
            f"{row['workflow_id']:<32} {row['status'] or '?':<15} {row['agent'] or '?':<14}"
            f" {row['turns'] or 0:>3} turns {row['tokens'] or 0:>7} tokens  {row['started']}"
        )
    return 0


def emit_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description="Run Tether agents.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start a run and follow it to its answer")
    run.add_argument("prompt", help="what the user asks the agent")
    run.add_argument("--agent", default=DEFAULT_AGENT, help=f"one of: {', '.join(REGISTRY.names)}")
    run.add_argument("--id", help="workflow id (default: AGENT-<random>)")
    run.add_argument("--model", help="override the agent's model")
    run.add_argument("--max-turns", type=int, help="stop after this many model calls")
    run.add_argument("--detach", action="store_true", help="start and return at once")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(handler=cmd_run)
    listing = commands.add_parser("list", help="list runs, filtered by status or agent")
    listing.add_argument("--status", choices=get_args(RunStatus), help="only runs in this status")
    listing.add_argument("--agent", help="only runs of this agent")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = asyncio.run(args.handler(args))
        return code
    except (UserError, TemporalUnreachable, SettingsError) as e:
        print(f"starter.py: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    exit_now(main())
