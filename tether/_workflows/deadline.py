"""The run's deadline (workflow code: no I/O).

A run with a deadline ends at it with status `deadline_exceeded`, whatever it waits for
then (a model, a tool, a person, the user's next message), never later: so the loop
waits only through `until`, which raises DeadlineReached when the deadline comes first,
and runs a message's turns through `by_deadline`, which also stops the work under way
(its activities cancelled) before it raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

T = TypeVar("T")


class DeadlineReached(Exception):
    """The run's deadline came; caught in the workflow, which ends the run with it."""


async def until(condition: Callable[[], bool], deadline: datetime | None) -> None:
    """Wait for `condition`; raise DeadlineReached if `deadline` comes first."""
    timeout = None
    if deadline is not None:
        timeout = (deadline - workflow.now()).total_seconds()
        if timeout <= 0:
            raise DeadlineReached
    try:
        await workflow.wait_condition(
            condition,
            timeout=timeout,
            # The timer's label in the web UI (metadata only: the same commands).
            timeout_summary=f"the run's deadline: it ends at {deadline:%Y-%m-%d %H:%M:%S} "
            "UTC unless it is done"
            if deadline
            else None,
        )
    except TimeoutError:
        raise DeadlineReached from None


async def by_deadline(work: Awaitable[T], deadline: datetime | None) -> T:
    """`work`'s result; if `deadline` (or a cancellation) comes first, the work is
    cancelled, and its activities stopped, before that is raised."""
    task = asyncio.ensure_future(work)
    try:
        await until(task.done, deadline)
    except GeneratorExit:
        # Closed by the garbage collector (the run was evicted from the cache), perhaps
        # while another run's code runs in this thread: cancelling here would act on
        # that run. See Approvals.wait.
        raise
    except BaseException:
        task.cancel()
        try:
            await task
        except BaseException as e:
            if not is_cancelled_exception(e):
                raise
        raise
    return task.result()
