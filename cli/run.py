"""`run`: start a run and follow it to its answer (or detach)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError

from agents import DEFAULT_AGENT, REGISTRY
from cli.common import Handle, UserError, check_id, emit_json, run_link
from cli.follow import Approver, agent_progress, follow
from tether.agents import UnknownAgentError
from tether.seam import AgentInput, AgentResult
from tether.settings import task_queue
from tether.temporal import connect
from tether.visibility import run_summary
from workflows.agent import AgentWorkflow


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options of a new run, shared by `run` and `chat`."""
    parser.add_argument(
        "--agent", default=DEFAULT_AGENT, help=f"one of: {', '.join(REGISTRY.names)}"
    )
    parser.add_argument("--model", help="override the agent's model")
    parser.add_argument("--max-turns", type=int, help="model calls allowed per user message")
    parser.add_argument("--max-tokens", type=int, help="token budget of the whole run")
    parser.add_argument("--deadline", type=float, metavar="SECONDS", help="end the run after")
    parser.add_argument(
        "--approval-timeout", type=float, metavar="SECONDS", help="then a call counts as rejected"
    )


def known_agent(name: str) -> str:
    try:
        REGISTRY.get(name)
    except UnknownAgentError as e:
        raise UserError(str(e)) from None
    return name


def parse_input(args: argparse.Namespace, prompt: str, *, chat: bool = False) -> AgentInput:
    known_agent(args.agent)
    try:
        return AgentInput(
            agent=args.agent,
            prompt=prompt.strip(),
            model=args.model,
            max_turns=args.max_turns,
            max_total_tokens=args.max_tokens,
            deadline_seconds=args.deadline,
            approval_timeout_seconds=args.approval_timeout,
            chat=chat,
        )
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise UserError(f"invalid {first['loc'][0]}: {first['msg']}") from None


async def start(client: Client, params: AgentInput, workflow_id: str | None) -> Handle:
    handle: Handle = await start_once(
        client,
        AgentWorkflow.run,
        params,
        workflow_id or f"{params.agent}-{uuid.uuid4().hex[:8]}",
        summary=run_summary(params.agent, params.prompt),
        details=f"**Prompt**\n\n{params.prompt[:2000]}",
    )
    return handle


async def start_once(
    client: Client, run: Any, params: BaseModel, workflow_id: str, *, summary: str, details: str
) -> WorkflowHandle[Any, Any]:
    """Start a workflow under an id no run had before (an id names one conversation)."""
    try:
        return await client.start_workflow(
            run,
            params,
            id=workflow_id,
            task_queue=task_queue(),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=summary,
            static_details=details,
        )
    except WorkflowAlreadyStartedError:
        raise UserError(
            f"a run with id {workflow_id!r} already exists; choose another --id"
        ) from None


async def cmd_run(args: argparse.Namespace) -> int:
    params = parse_input(args, args.prompt)
    if args.id is not None:
        check_id(args.id)
    client = await connect()
    handle = await start(client, params, args.id)
    link = await announce(client, handle, params.agent, args)
    if args.detach:
        return 0
    approver = Approver(handle.id, ask=sys.stdin.isatty(), approve_all=args.yes)
    return await finish(handle, approver, link, as_json=args.json)


async def announce(
    client: Client, handle: WorkflowHandle[Any, Any], name: str, args: argparse.Namespace
) -> str:
    """Say that the run started (how to find it, if detached); its web UI link."""
    link = run_link(client, handle.id, handle.result_run_id)
    if args.detach:
        if args.json:
            emit_json({"workflow_id": handle.id, "run_id": handle.result_run_id, "url": link})
        else:
            print(f"started {handle.id}\n  web UI: {link}")
    elif not args.json:
        print(f"▶ {name} · {handle.id}\n  web UI: {link}")
        await warn_if_no_worker(client)
    return link


async def finish(handle: Handle, approver: Approver, link: str, *, as_json: bool) -> int:
    """Follow a run to its end and print how it ended; exit status 0 if it completed."""
    try:
        result = await follow(handle, approver, agent_progress(handle, quiet=as_json))
    except WorkflowFailureError as e:
        return report_failure(handle.id, link, e, as_json=as_json)
    print_result(handle.id, link, result, as_json=as_json)
    return 0 if result.status == "completed" else 1


def print_result(workflow_id: str, link: str, result: AgentResult, *, as_json: bool) -> None:
    if as_json:
        emit_json({"workflow_id": workflow_id, "url": link, **result.model_dump()})
        return
    print(f"\n{result.answer or '(no answer)'}\n")
    cost = f" · ${result.cost_usd:.6f}" if result.cost_usd is not None else ""
    print(
        f"status {result.status} · {result.turns} turns · {result.usage.total_tokens} tokens"
        f"{cost} · model {result.model}"
    )
    print(f"workflow id: {workflow_id}\nweb UI: {link}")


def report_failure(
    workflow_id: str, link: str, error: WorkflowFailureError, *, as_json: bool
) -> int:
    """A failed or cancelled run: its error type and message, exit status 1."""
    cause = error.cause
    kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    message = cause.message if isinstance(cause, FailureError) else str(error)
    status = "cancelled" if kind == "CancelledError" else "failed"
    if as_json:
        emit_json(
            {
                "workflow_id": workflow_id,
                "url": link,
                "status": status,
                "error": {"type": kind, "message": message},
            }
        )
    else:
        print(f"run {workflow_id} {status} ({kind}): {message}\nweb UI: {link}", file=sys.stderr)
    return 1


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
