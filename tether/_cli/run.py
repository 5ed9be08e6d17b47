"""`run`: start a run and follow it to its answer (or detach)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import PayloadConverter

from tether._activities.specs import LOCAL_ACTIVITY_MARKER
from tether._cli.common import Handle, UserError, check_id, emit_json, person, run_link
from tether._cli.ending import finish
from tether._cli.follow import Approver
from tether._cli.reading import polling
from tether._client import AgentRun
from tether._limits import MAX_NAME_CHARS
from tether._policies import Budgets
from tether._run_handles import RunExists
from tether._run_io import INPUT_GENERATION, AgentInput
from tether._settings import task_queue
from tether._temporal import connect
from tether._wire import DESCRIBE_AGENT_ACTIVITY, LLM_ACTIVITY
from tether._workflows.spec_calls import STARTS_NOT

# How long `run`, `chat` and `pipeline` wait for a worker to take a new run's first task.
FIRST_TASK_SECONDS = 10.0
# A run that fails with one of these at its first step was given to a worker that cannot
# serve it: the CLI reports it in one line, exit status 2.
FIRST_STEP_FAILURES = {*STARTS_NOT, "InvalidInput"}
# Events that show the run got past resolving its agents (a step of its own was taken,
# or it ended some other way).
PAST_THE_FIRST_STEP = {
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


def add_run_options(parser: argparse.ArgumentParser, default_agent: str | None) -> None:
    """Options of a new run, shared by `run` and `chat`."""
    parser.add_argument(
        "--agent",
        default=default_agent or os.environ.get("TETHER_AGENT"),
        help="the agent to run (default: TETHER_AGENT"
        + (f", else {default_agent})" if default_agent else ")"),
    )
    parser.add_argument("--model", help="override the agent's model")
    parser.add_argument("--max-turns", type=int, help="model calls allowed per user message")
    parser.add_argument("--max-tokens", type=int, help="token budget of the whole run")
    parser.add_argument("--deadline", type=float, metavar="SECONDS", help="end the run after")
    parser.add_argument(
        "--max-cost", type=float, metavar="USD", help="spend in US dollars (needs TETHER_PRICES)"
    )
    parser.add_argument(
        "--approval-timeout", type=float, metavar="SECONDS", help="then a call counts as rejected"
    )
    add_acting_for(parser)


def add_acting_for(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--acting-for",
        metavar="WHO",
        default=os.environ.get("TETHER_ACTING_FOR") or None,
        help="who the run acts for, e.g. a customer id: its tools see it, never the "
        "model's choice (default: TETHER_ACTING_FOR)",
    )


def chosen_agent(args: argparse.Namespace) -> str:
    if not args.agent:
        raise UserError("name the agent to run with --agent NAME (or set TETHER_AGENT)")
    # An agent's name is its runs' default id too, which Temporal caps.
    if len(args.agent) > MAX_NAME_CHARS:
        raise UserError(f"the agent name is longer than {MAX_NAME_CHARS} characters")
    return str(args.agent)


def parse_input(args: argparse.Namespace, prompt: str, *, chat: bool = False) -> AgentInput:
    try:
        return AgentInput(
            agent=chosen_agent(args),
            prompt=prompt.strip(),
            model=args.model,
            max_turns=args.max_turns,
            max_total_tokens=args.max_tokens,
            deadline_seconds=args.deadline,
            max_cost_usd=args.max_cost,
            approval_timeout_seconds=args.approval_timeout,
            chat=chat,
            acting_for=args.acting_for,
            started_by=person(),
            generation=INPUT_GENERATION,
        )
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise UserError(f"invalid {first['loc'][0]}: {first['msg']}") from None


async def start(
    client: Client, params: AgentInput, workflow_id: str | None, *, watch: bool = True
) -> tuple[Handle, bool]:
    """Start an agent run; once a worker has taken it, check that it serves the agent.
    Also says whether a worker polls (if none, it said so). `watch`: the CLI follows
    the run, which then streams its replies' text from its first model call."""
    try:
        run = await AgentRun.start(
            client,
            params.agent,
            params.prompt,
            id=workflow_id,
            chat=params.chat,
            model=params.model,
            budgets=Budgets(
                max_turns=params.max_turns,
                max_total_tokens=params.max_total_tokens,
                deadline=_seconds(params.deadline_seconds),
                max_cost_usd=params.max_cost_usd,
            ),
            approval_timeout=_seconds(params.approval_timeout_seconds),
            acting_for=params.acting_for,
            started_by=params.started_by,
            watch=watch,
        )
    except RunExists as e:
        raise UserError(f"{e} (--id)") from None
    worker = await check_taken(client, run.handle)
    handle: Handle = run.handle
    return handle, worker


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


async def check_taken(client: Client, handle: WorkflowHandle[Any, Any]) -> bool:
    """Until a worker took the run's first task (a few seconds at most): a run whose
    worker cannot serve it (an unknown agent, an unregistered workflow) ends here with
    one line, not later in a failure nobody reads. With no worker polling, says so (and
    returns False)."""
    if not await polling(client, task_queue()):
        print(
            f"  (no worker is polling task queue {task_queue()!r} yet; start one with "
            "`tether worker --agents MODULE:ATTR`)",
            file=sys.stderr,
        )
        return False
    problem = await first_task_problem(handle)
    if problem is not None:
        raise UserError(f"run {handle.id}: {problem}")
    return True


async def first_task_problem(
    handle: WorkflowHandle[Any, Any], within: float = FIRST_TASK_SECONDS
) -> str | None:
    """Why the run could not take its first step, or None once it did (or after
    `within` seconds: a slow worker is not a wrong one). The first step resolves the
    agents it runs (its first model call, which records the agent, or
    `tether.describe_agent`): a run that gets past it, or fails for another reason, is
    the worker's to report."""
    first_call: int | None = None  # the event id of the run's first model call
    try:
        async with asyncio.timeout(within):
            async for event in handle.fetch_history_events(wait_new_event=True):
                kind = event.event_type
                if first_call is None and _is_model_call(event):
                    first_call = event.event_id
                    continue
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                    completed = event.activity_task_completed_event_attributes
                    if completed.scheduled_event_id == first_call:
                        return None  # the agent is recorded: the worker serves it
                if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure
                    if "not registered" in failure.message:
                        # Retrying the task cannot help until another worker comes.
                        await handle.terminate("no worker on its task queue runs this workflow")
                        return (
                            f"no worker on task queue {task_queue()!r} runs workflow "
                            f"{handle_type(failure.message)}; the run was terminated"
                        )
                elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                    failure = event.workflow_execution_failed_event_attributes.failure
                    if failure.application_failure_info.type in FIRST_STEP_FAILURES:
                        return failure.message
                    return None
                elif kind in PAST_THE_FIRST_STEP or _scheduled_beyond_describe(event):
                    return None
    except TimeoutError:
        return None
    return None


def _is_model_call(event: HistoryEvent) -> bool:
    if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return False
    return event.activity_task_scheduled_event_attributes.activity_type.name == LLM_ACTIVITY


def _scheduled_beyond_describe(event: HistoryEvent) -> bool:
    """An activity (or local activity) other than resolving the agents."""
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        name = event.activity_task_scheduled_event_attributes.activity_type.name
        return name != DESCRIBE_AGENT_ACTIVITY
    if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == LOCAL_ACTIVITY_MARKER and "data" in marker.details:
            # Core writes the marker's own data as plain JSON, outside any codec.
            meta = PayloadConverter.default.from_payloads(marker.details["data"].payloads)[0]
            return isinstance(meta, dict) and meta.get("activity_type") != DESCRIBE_AGENT_ACTIVITY
    return False


async def cmd_run(args: argparse.Namespace) -> int:
    params = parse_input(args, args.prompt)
    if args.id is not None:
        check_id(args.id)
    client = await connect()
    handle, worker = await start(client, params, args.id, watch=not args.detach)
    link = await announce(client, handle, params.agent, args)
    if args.detach:
        return 0
    # --events keeps stdout for its JSON lines: approvals are only said, on stderr.
    ask = sys.stdin.isatty() and not args.events
    approver = Approver(handle.id, ask=ask, approve_all=args.yes, namespace=client.namespace)
    return await finish(
        client, handle, approver, link, as_json=args.json, polling=worker, events=args.events
    )


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
    elif not args.json and not args.events:
        print(f"▶ {name} · {handle.id}\n  web UI: {link}")
    return link


def handle_type(message: str) -> str:
    """The workflow type a "Workflow class X is not registered" message names."""
    words = message.split()
    return words[2] if len(words) > 2 else "?"
