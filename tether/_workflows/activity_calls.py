"""One activity call, local or regular (workflow code).

Model calls and tool calls choose the same way: a local activity runs in the worker
that runs the workflow (no trip through the server, no heartbeats); a regular one is
dispatched by the server and heartbeats, so a dead worker's attempt is retried soon.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

R = TypeVar("R", bound=BaseModel)

# Heartbeats show a worker is alive and carry cancellation to a running activity: a
# crashed worker's attempt is retried after this long, and a cancel arrives within it.
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 10.0


async def execute(
    activity: str,
    arg: object,
    *,
    result_type: type[R],
    local: bool,
    start_to_close: timedelta,
    heartbeat: timedelta,
    retry: RetryPolicy,
    summary: str,
    cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    task_queue: str | None = None,
    schedule_to_start: timedelta | None = None,
) -> R:
    """Run `activity` with `arg`; `heartbeat`, `task_queue` (default: the workflow's)
    and `schedule_to_start` apply to a regular activity only."""
    result: R
    if local:
        result = await workflow.execute_local_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=start_to_close,
            retry_policy=retry,
            cancellation_type=cancellation,
            summary=summary,
        )
        return result
    result = await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=start_to_close,
        heartbeat_timeout=heartbeat,
        retry_policy=retry,
        cancellation_type=cancellation,
        summary=summary,
        task_queue=task_queue,
        schedule_to_start_timeout=schedule_to_start,
    )
    return result
