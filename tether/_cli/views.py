"""`status`, `watch`, `transcript` and `list`: reading runs."""

from __future__ import annotations

import argparse
from typing import get_args

from temporalio.service import RPCError

from tether._cli.common import (
    Handle,
    UserError,
    decide_command,
    emit_json,
    explained,
    numbered,
    open_run,
    run_link,
    shown_call,
)
from tether._cli.follow import Approver
from tether._cli.pipeline import finish_pipeline, pipeline_status_text
from tether._cli.run import finish
from tether._client import AgentRun
from tether._seam import RunState, RunStatus
from tether._temporal import connect
from tether._visibility import AGENT_NAME_KEY, AGENT_STATUS_KEY, AGENT_TOKENS_KEY, AGENT_TURNS_KEY
from tether._workflows.agent import AGENT_WORKFLOW, AgentWorkflow
from tether._workflows.pipeline import PipelineState

STATUSES: tuple[str, ...] = get_args(RunStatus)
MAX_LIST = 1_000


async def cmd_status(args: argparse.Namespace) -> int:
    _, handle = await open_run(args.id)
    state: RunState | PipelineState
    with explained(args.id):
        kind = await workflow_type(handle)
        if kind != AGENT_WORKFLOW:
            progress = await handle.query("state", result_type=PipelineState)
            text, state = pipeline_status_text(args.id, kind, progress), progress
        else:
            agent_state = await handle.query(AgentWorkflow.state)
            text, state = status_text(args.id, agent_state), agent_state
    if args.json:
        emit_json({"workflow_id": args.id, **state.model_dump(mode="json")})
    else:
        print(text)
    return 0


async def workflow_type(handle: Handle) -> str:
    """The run's workflow type: an agent's, or a pipeline's (an unknown id fails here,
    in one line)."""
    return (await handle.describe()).workflow_type


def status_text(workflow_id: str, state: RunState) -> str:
    cost = f" · ${state.cost_usd:.6f}" if state.cost_usd is not None else ""
    lines = [
        f"{workflow_id} · {state.agent} · {state.status}" + (" · chat" if state.chat else ""),
        f"  turn {state.turn} · {state.usage.total_tokens} tokens{cost} · model {state.model}"
        f" · {state.messages} messages · run {state.runs}",
    ]
    if state.deadline:
        lines.append(f"  deadline {state.deadline:%Y-%m-%d %H:%M:%S} UTC")
    for call in state.pending_approvals:
        lines.append(
            f"  waiting for approval: {shown_call(call)}"
            f" · until {call.expires_at:%Y-%m-%d %H:%M} UTC\n"
            f"    to approve: {decide_command(workflow_id, call)}"
        )
    if state.queued_messages:
        lines.append(f"  {state.queued_messages} messages queued")
    if state.error:
        lines.append(f"  error: {state.error}")
    if state.last_message:
        lines.append(f"  last answer: {state.last_message}")
    return "\n".join(lines)


async def cmd_watch(args: argparse.Namespace) -> int:
    """Follow a run until it ends; it says what waits for approval but decides nothing."""
    client, handle = await open_run(args.id)
    link = run_link(client, args.id)
    with explained(args.id):
        if await workflow_type(handle) != AGENT_WORKFLOW:
            pipeline = client.get_workflow_handle(args.id)  # its result: the pipeline's own
            return await finish_pipeline(pipeline, Approver(args.id), link, as_json=args.json)
        return await finish(handle, Approver(args.id), link, as_json=args.json)


async def cmd_transcript(args: argparse.Namespace) -> int:
    client, _ = await open_run(args.id)
    with explained(args.id):
        # Every run of the conversation: a chat with a context policy keeps earlier
        # messages in its earlier runs.
        messages = await AgentRun.attach(client, args.id).transcript()
    if args.json:
        emit_json([m.model_dump(mode="json", exclude_defaults=True) for m in messages])
        return 0
    for message, line in numbered(messages):
        if message.role in ("system", "user") or (message.role == "assistant" and not line):
            line = f"{message.role}: {message.content or ''}"
        print(line)
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    """Runs from the visibility store, filtered on the AgentStatus search attribute."""
    if not 1 <= args.limit <= MAX_LIST:
        raise UserError(f"--limit must be between 1 and {MAX_LIST:,}")
    query = "WorkflowType = 'AgentWorkflow'"
    if args.status:
        query += f" AND {AGENT_STATUS_KEY.name} = '{args.status}'"
    client = await connect()
    rows = []
    try:
        async for run in client.list_workflows(query, limit=args.limit):
            found = run.typed_search_attributes
            rows.append(
                {
                    "workflow_id": run.id,
                    "status": found.get(AGENT_STATUS_KEY),
                    "agent": found.get(AGENT_NAME_KEY),
                    "turns": found.get(AGENT_TURNS_KEY),
                    "tokens": found.get(AGENT_TOKENS_KEY),
                    "started": run.start_time,
                }
            )
    except RPCError as e:
        raise UserError(f"cannot list runs ({e.message}); see `python3 dev.py server`") from None
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        print(
            f"{row['workflow_id']}  {row['status'] or '?'}  {row['agent'] or '?'}  "
            f"turns {row['turns'] or 0}  tokens {row['tokens'] or 0}  "
            f"{row['started']:%Y-%m-%d %H:%M}"
        )
    if not rows:
        print("no runs" + (f" with status {args.status}" if args.status else ""))
    return 0
