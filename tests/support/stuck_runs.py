"""Waiting for many runs' results with a deadline that says, when it passes, where each
unfinished run stands: a crash test that fails on a CI machine then shows why."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType, PendingActivityState, PendingWorkflowTaskState
from temporalio.client import WorkflowHandle

R = TypeVar("R")


async def results_within(
    handles: Sequence[WorkflowHandle[Any, R]], seconds: float, logs: Sequence[Path] = ()
) -> list[R]:
    """Every run's result, in order; AssertionError after `seconds`, describing the runs
    not finished and the last lines of the worker `logs`."""
    tasks = [asyncio.ensure_future(h.result()) for h in handles]
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    if not pending:
        return [t.result() for t in tasks]
    for task in pending:
        task.cancel()
    stuck = [h for h, t in zip(handles, tasks, strict=True) if t in pending]
    report = [f"{len(stuck)} of {len(handles)} runs unfinished after {seconds:g} s"]
    report += [await describe_run(h) for h in stuck[:5]]
    report += [tail(log) for log in logs]
    raise AssertionError("\n".join(report))


async def describe_run(handle: WorkflowHandle[Any, Any]) -> str:
    """A run's status, pending workflow task and activities, and its last events."""
    raw = (await handle.describe()).raw_description
    lines = [f"run {handle.id}: {raw.workflow_execution_info.status}"]
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        state = PendingWorkflowTaskState.Name(task.state)
        lines.append(f"  workflow task {state}, attempt {task.attempt}")
    for a in raw.pending_activities:
        lines.append(
            f"  activity {a.activity_type.name} {PendingActivityState.Name(a.state)}"
            f" attempt {a.attempt} worker {a.last_worker_identity or '-'}"
            f" last failure {a.last_failure.message or '-'}"
        )
    events = [e async for e in handle.fetch_history_events()]
    start = events[0].event_time.ToSeconds() if events else 0
    shown = [
        f"{e.event_id} {EventType.Name(e.event_type)[11:]} +{e.event_time.ToSeconds() - start}s"
        for e in events[-8:]
    ]
    lines.append("  last events: " + ", ".join(shown))
    return "\n".join(lines)


def tail(log: Path, lines: int = 5) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return f"{log.name}, last {lines} of {len(text)} lines:\n" + "\n".join(text[-lines:])
