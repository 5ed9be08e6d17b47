"""`status`, `watch`, `transcript` and `list`: reading runs of any kind.

Each asks the run's worker first (its `state` and `transcript` queries answer the most),
for a few seconds at most, and otherwise reads the run from Temporal alone: its
description and its history (see history.py). Either way it says which.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from temporalio.client import Client, WorkflowExecutionDescription
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
    warnings,
)
from tether._cli.ending import finish, plural
from tether._cli.follow import Approver
from tether._cli.history import Record, Retry, labels_of, read_record, retries, run_status
from tether._cli.model_calls import ModelCall, has_model_calls, model_calls
from tether._cli.reading import (
    QUERY_SECONDS,
    AnyState,
    Build,
    ask_conversation,
    ask_state,
    pinned_build,
    polling,
)
from tether._run_io import DecidedCall, PendingApproval, PendingQuestion, RunState, RunStatus
from tether._temporal import connect
from tether._visibility import (
    AGENT_STATUS_KEY,
    AGENT_TOKENS_KEY,
    AGENT_TURNS_KEY,
    answer_command,
    decision_line,
    listed_agent,
    policy_line,
)
from tether._workflows.pipeline import PipelineState

STATUSES: tuple[str, ...] = (*get_args(RunStatus), "terminated", "timed_out")
MAX_LIST = 1_000


@dataclass
class Look:
    """A run as the CLI found it: from its worker (`state`), or else from Temporal
    (`record`), and in both cases the calls Temporal retries."""

    described: WorkflowExecutionDescription
    state: AnyState | None
    record: Record | None
    retries: list[Retry]
    why_history: str
    build: Build | None = None  # the build the run is pinned to
    model_calls: list[ModelCall] = field(default_factory=list)


async def look_at(client: Client, handle: Handle) -> Look:
    described = await handle.describe()
    queue = described.task_queue
    build = pinned_build(described)
    worker = await polling(client, queue, build)
    state = await ask_state(handle) if worker else None
    # A run that failed (or was cancelled or terminated) may not have said so in its
    # state: how it ended, and why, is in its history.
    ended_badly = run_status(described) not in ("running", "completed") and not (
        state is not None and state.status == run_status(described)
    )
    if state is None or ended_badly:
        record = await read_record(client, handle, described)
        found, labels = record.retries, record.labels
    else:
        record = None
        pending = described.raw_description.pending_activities
        labelled = any(p.attempt > 1 for p in pending) or has_model_calls(described)
        labels = await labels_of(client, handle) if labelled else {}
        found = await retries(client, described, labels)
    why = (
        f"its worker did not answer within {QUERY_SECONDS:g} s"
        if worker
        else not_served(queue, build)
    )
    calls = await model_calls(client, described, labels)
    return Look(described, state, record, found, why, build, calls)


def not_served(queue: str, build: Build | None) -> str:
    """Why no worker answers for a run: none polls its queue, or none of its build."""
    if build is None:
        return f"no worker is polling task queue {queue!r}"
    return (
        f"no worker of build {build} polls task queue {queue!r}, and the run is pinned to "
        "that build: start one, or it waits (see the docs' page Deploys and versioning)"
    )


async def cmd_status(args: argparse.Namespace) -> int:
    client, handle = await open_run(args.id)
    with explained(args.id):
        look = await look_at(client, handle)
    if args.json:
        emit_json(status_json(args.id, look))
    else:
        print(status_text(args.id, look))
    return 0


def status_json(workflow_id: str, look: Look) -> dict[str, Any]:
    retrying = [r.line() for r in look.retries]
    build = look.build._asdict() if look.build else None
    now = datetime.now(UTC)
    calls = [{**asdict(c), "line": c.line(now)} for c in look.model_calls]
    if look.state is None:
        assert look.record is not None
        return {
            "source": "history",
            "why": look.why_history,
            "build": build,
            **look.record.as_json(),
            "model_calls": calls,
        }
    shown = {"workflow_id": workflow_id, **look.state.model_dump(mode="json")}
    if look.record is not None:  # how it ended, from history
        shown.update(status=look.record.status, error=look.record.error)
    return {**shown, "build": build, "retrying": retrying, "model_calls": calls}


def status_text(workflow_id: str, look: Look) -> str:
    state, record = look.state, look.record
    if state is None:
        assert record is not None
        lines = record_lines(record, look.why_history)
    else:
        status, error = (record.status, record.error) if record else (state.status, None)
        kind = look.described.workflow_type
        if isinstance(state, PipelineState):
            lines = pipeline_lines(workflow_id, kind, state, status)
        else:
            lines = agent_lines(workflow_id, state, status)
        if error:
            lines.append(f"  error: {error}")
    if look.build is not None:
        lines.insert(1, f"  build {look.build} (pinned)")
    lines += [f"  {r.line()}" for r in look.retries]
    now = datetime.now(UTC)
    lines += [f"  {c.line(now)}" for c in look.model_calls]
    return "\n".join(lines)


def agent_lines(workflow_id: str, state: RunState, status: str) -> list[str]:
    cost = f" · ${state.cost_usd:.6f}" if state.cost_usd is not None else ""
    lines = [
        f"{workflow_id} · {state.agent} · {status}" + (" · chat" if state.chat else ""),
        f"  turn {state.turn} · {state.usage.total_tokens} tokens{cost} · model {state.model}"
        f" · {plural(state.messages, 'message')} · run {state.runs}",
    ]
    if state.deadline:
        lines.append(f"  deadline {state.deadline:%Y-%m-%d %H:%M:%S} UTC")
    lines += approval_lines(workflow_id, state.pending_approvals, state.decisions)
    lines += question_lines(workflow_id, state.pending_questions)
    if state.queued_messages:
        lines.append(f"  {plural(state.queued_messages, 'message')} queued")
    if state.error:
        lines.append(f"  error: {state.error}")
    lines += warnings(truncated=state.truncated, tools_dropped=state.tools_dropped)
    if state.last_message:
        lines.append(f"  last answer: {state.last_message}")
    return lines


def pipeline_lines(workflow_id: str, kind: str, state: PipelineState, status: str) -> list[str]:
    lines = [
        f"{workflow_id} · {kind} · {status}",
        f"  {plural(state.llm_calls, 'LLM call')} · {state.usage.total_tokens} tokens",
        *(f"  · {step}" for step in state.steps),
    ]
    return lines + approval_lines(workflow_id, state.pending_approvals, state.decisions)


def approval_lines(
    workflow_id: str, pending: list[PendingApproval], decisions: list[DecidedCall]
) -> list[str]:
    """The calls decided so far (by whom, under which rule), then those that wait."""
    lines = [f"  decided: {decision_line(taken)}" for taken in decisions]
    for call in pending:
        asked = (
            f"\n    asked by the approval policy: {policy_line(call.policy)}" if call.policy else ""
        )
        lines.append(
            f"  waiting for approval: {shown_call(call)}"
            f" · until {call.expires_at:%Y-%m-%d %H:%M} UTC{asked}\n"
            f"    to approve: {decide_command(workflow_id, call)}"
        )
    return lines


def question_lines(workflow_id: str, pending: list[PendingQuestion]) -> list[str]:
    """The questions that wait for a person, with what an answer may be."""
    lines = []
    for question in pending:
        may = (
            "one of " + ", ".join(json.dumps(c, ensure_ascii=False) for c in question.choices)
            if question.choices
            else f"JSON matching {json.dumps(question.answer_schema, ensure_ascii=False)}"
        )
        lines.append(
            f"  waiting for an answer: {' '.join(question.question.split())!r}"
            f" (call {question.call_id}) · until {question.expires_at:%Y-%m-%d %H:%M} UTC\n"
            f"    the answer: {may}\n"
            f"    to answer: {answer_command(workflow_id, question)}"
        )
    return lines


def record_lines(record: Record, why: str) -> list[str]:
    """A run as its history tells it."""
    lines = [
        f"{record.workflow_id} · {record.name} · {record.status}",
        f"  (from the run's history: {why})",
        f"  {plural(record.llm_calls, 'model call')} · {record.usage.total_tokens} tokens"
        + (f" · model {record.model}" if record.model else "")
        + f" · {plural(len(record.messages), 'message')}",
    ]
    lines += [f"  {wait.line()}" for wait in record.waits]
    if record.error:
        lines.append(f"  error: {record.error}")
    lines += warnings(truncated=record.truncated, tools_dropped=record.tools_dropped)
    if record.last_answer:
        lines.append(f"  last answer: {record.last_answer}")
    return lines


async def cmd_watch(args: argparse.Namespace) -> int:
    """Follow a run until it ends; it says what waits for approval but decides nothing.
    With no worker polling, it says so at once and shows the run's history meanwhile."""
    client, handle = await open_run(args.id)
    with explained(args.id):
        await handle.describe()  # an unknown id fails here, in one line
        link = run_link(client, args.id)
        return await finish(
            client,
            handle,
            Approver(args.id),
            link,
            as_json=args.json,
            events=args.events,
            from_seq=args.from_seq,
        )


async def cmd_transcript(args: argparse.Namespace) -> int:
    client, handle = await open_run(args.id)
    with explained(args.id):
        described = await handle.describe()
        build = pinned_build(described)
        worker = await polling(client, described.task_queue, build)
        # A chat with a context policy keeps earlier messages in its earlier runs.
        messages = await ask_conversation(client, handle) if worker else None
        if messages is None:
            why = (
                f"its worker did not answer within {QUERY_SECONDS:g} s"
                if worker
                else not_served(described.task_queue, build)
            )
            print(f"(from the run's history: {why})")
            messages = (await read_record(client, handle, described)).messages
    if args.json:
        emit_json([m.model_dump(mode="json", exclude_defaults=True) for m in messages])
        return 0
    for message, line in numbered(messages):
        if message.role in ("system", "user") or (message.role == "assistant" and not line):
            line = f"{message.role}: {message.content or ''}"
        if message.truncated:
            line = f"{line}\n  [cut at its length limit]"
        print(line)
    return 0


def list_query(status: str | None) -> str:
    """Every run in the namespace, of any kind; with `status`, those whose own status
    (`AgentStatus`) is it, or, for runs that set none (a pipeline's), whose execution
    status is (a failed or completed pipeline, say)."""
    if status is None:
        return ""
    own = f"{AGENT_STATUS_KEY.name} = '{status}'"
    execution = EXECUTION_LIST_NAMES.get(status)
    if execution is None:
        return own
    return f"{own} OR ({AGENT_STATUS_KEY.name} IS NULL AND ExecutionStatus = '{execution}')"


# Tether's words for execution statuses, and how the visibility store names them.
EXECUTION_LIST_NAMES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
}


async def cmd_list(args: argparse.Namespace) -> int:
    """Recent runs of any kind from the visibility store, newest first."""
    if not 1 <= args.limit <= MAX_LIST:
        raise UserError(f"--limit must be between 1 and {MAX_LIST:,}")
    client = await connect()
    rows = []
    try:
        # The store lists open runs first: read up to MAX_LIST, sort, keep the newest.
        async for run in client.list_workflows(list_query(args.status), limit=MAX_LIST):
            found = run.typed_search_attributes
            rows.append(
                {
                    "workflow_id": run.id,
                    "status": run_status(run),
                    "agent": await listed_agent(run),
                    "turns": found.get(AGENT_TURNS_KEY),
                    "tokens": found.get(AGENT_TOKENS_KEY),
                    "started": run.start_time,
                }
            )
    except RPCError as e:
        raise UserError(f"cannot list runs ({e.message}); see `python3 dev.py server`") from None
    rows.sort(key=_started, reverse=True)
    rows = rows[: args.limit]
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        print(
            f"{row['workflow_id']}  {row['status']}  {row['agent']}  "
            f"turns {row['turns'] or 0}  tokens {row['tokens'] or 0}  "
            f"{row['started']:%Y-%m-%d %H:%M}"
        )
    if not rows:
        print("no runs" + (f" with status {args.status}" if args.status else ""))
    return 0


def _started(row: dict[str, Any]) -> datetime:
    started: datetime = row["started"]
    return started
