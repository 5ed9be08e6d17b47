"""Waiting in tests: every wait polls against a deadline and, once it passes, fails
saying what never happened and what it saw last, so a test that hangs on a loaded
machine says why instead of timing out mute."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle

from tether import RunState, RunStatus

T = TypeVar("T")
NOTHING = object()


async def until(
    check: Callable[[], Awaitable[bool]], what: str, *, within: float = 30, every: float = 0.05
) -> None:
    """Poll `check` until it is true; AssertionError saying `what` after `within` s."""
    await first(check, bool, what, within=within, every=every)


async def first(
    read: Callable[[], Awaitable[T]],
    good: Callable[[T], bool],
    what: str,
    *,
    within: float = 30,
    every: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """The first value `read` returns that is `good`; AssertionError saying `what`, and
    the last value read, after `within` s. An error of a type in `ignoring` counts as a
    value that is not good yet (a run not started, a worker being replaced)."""
    deadline = time.monotonic() + within
    last: object = NOTHING
    while True:
        try:
            value = await read()
        except ignoring as e:
            last = e
        else:
            if good(value):
                return value
            last = value
        assert time.monotonic() < deadline, f"{what} (last: {last!r})"
        await asyncio.sleep(every)


async def closed(
    handle: WorkflowHandle[Any, Any], *, within: float = 30, every: float = 0.1
) -> WorkflowExecutionDescription:
    """The run's description once it is no longer running."""

    async def described() -> WorkflowExecutionDescription:
        return await handle.describe()

    return await first(
        described,
        lambda d: d.status != WorkflowExecutionStatus.RUNNING,
        f"run {handle.id} is still running",
        within=within,
        every=every,
    )


async def state_when(
    handle: WorkflowHandle[Any, Any],
    good: Callable[[RunState], bool],
    what: str,
    *,
    within: float = 30,
    every: float = 0.05,
) -> RunState:
    """The agent run's state (its `state` query) once `good` holds for it."""

    async def state() -> RunState:
        found: RunState = await handle.query("state", result_type=RunState)
        return found

    return await first(state, good, what, within=within, every=every)


async def status_becomes(
    handle: WorkflowHandle[Any, Any], status: RunStatus, *, within: float = 30
) -> RunState:
    """The agent run's state once its status is `status`."""
    return await state_when(
        handle, lambda s: s.status == status, f"the run never became {status}", within=within
    )


async def activities_when(
    handle: WorkflowHandle[Any, Any],
    good: Callable[[list[PendingActivityInfo]], bool],
    what: str,
    *,
    within: float = 30,
    every: float = 0.1,
) -> list[PendingActivityInfo]:
    """The run's pending activities (as the server describes them) once `good` holds."""

    async def pending() -> list[PendingActivityInfo]:
        return list((await handle.describe()).raw_description.pending_activities)

    return await first(pending, good, what, within=within, every=every)
