"""Following a run as it goes: its messages, its status, and approvals to ask for."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from tether._cli.common import Handle, decide_command, numbered, person, prog, shown_call
from tether._seam import ApprovalDecision, PendingApproval
from tether._workflows.agent import AgentWorkflow

POLL_SECONDS = 0.25
R = TypeVar("R")
# What waits for a person, and every progress line of the run so far.
Progress = tuple[list[PendingApproval], list[str]]


@dataclass
class Approver:
    """Who decides the calls that wait for a person while the CLI follows a run.

    `ask` prompts on the terminal; `approve_all` approves without asking (for demos
    and scripts); with neither, the CLI only says how to decide from another shell.
    Its notices go to stderr, so that --json output stays one JSON document.
    """

    workflow_id: str
    ask: bool = False
    approve_all: bool = False
    _seen: set[str] = field(default_factory=set)

    async def attend(
        self, handle: WorkflowHandle[Any, Any], pending: list[PendingApproval]
    ) -> None:
        """Decide the calls in `pending` not seen before (an agent's or a pipeline's: both
        have the `decide` update)."""
        for call in pending:
            if call.call_id in self._seen:
                continue
            self._seen.add(call.call_id)
            decision = await self._decide(call)
            if decision is not None:
                await handle.execute_update(AgentWorkflow.decide, decision)

    async def _decide(self, call: PendingApproval) -> ApprovalDecision | None:
        shown = shown_call(call)
        if self.approve_all:
            print(f"  ✓ approved {shown} (--yes)", file=sys.stderr)
            return decision_on(call, approve=True)
        if not self.ask:
            print(
                f"  ⏸ {shown} waits for approval: {decide_command(self.workflow_id, call)}"
                " (or reject)",
                file=sys.stderr,
            )
            return None
        try:
            answer = await asyncio.to_thread(input, f"  ? approve {shown}? [y/N] ")
            if answer.strip().lower() in ("y", "yes"):
                return decision_on(call, approve=True)
            reason = await asyncio.to_thread(input, "    reason (optional): ")
        except EOFError:
            print(f"\n  (no answer: decide with {prog()} approve/reject)", file=sys.stderr)
            return None
        return decision_on(call, approve=False, reason=reason.strip() or None)


def decision_on(
    call: PendingApproval,
    *,
    approve: bool,
    reason: str | None = None,
    arguments: str | None = None,
) -> ApprovalDecision:
    """A decision by this CLI's user on exactly `call`: its id and the digest of the
    arguments they were shown."""
    return ApprovalDecision(
        call_id=call.call_id,
        approve=approve,
        reason=reason,
        arguments=arguments,
        digest=call.digest,
        approver=person(),
    )


async def follow(
    handle: WorkflowHandle[Any, R],
    approver: Approver,
    progress: Callable[[], Awaitable[Progress]],
) -> R:
    """Wait for the run's result, printing each new line of its `progress` as it appears
    and letting `approver` decide what waits for a person."""
    result_task = asyncio.create_task(handle.result())
    shown = 0
    while True:
        done, _ = await asyncio.wait({result_task}, timeout=POLL_SECONDS)
        try:
            # A closed run still answers queries, so its last lines get printed.
            pending, lines = await progress()
        except RPCError:
            pending, lines = [], []  # no worker yet, or the run is between runs
        for line in lines[shown:]:
            print(line, flush=True)
        shown = max(shown, len(lines))
        if done:
            return result_task.result()
        await approver.attend(handle, pending)


class Waiting(BaseModel):
    """What a run's `state` query says waits for a person; an agent's and a pipeline's
    state both say it this way."""

    pending_approvals: list[PendingApproval]


def approvals_only(handle: WorkflowHandle[Any, Any]) -> Callable[[], Awaitable[Progress]]:
    """Any run's progress as no lines, only what waits for a person."""

    async def progress() -> Progress:
        state: Waiting = await handle.query("state", result_type=Waiting)
        return state.pending_approvals, []

    return progress


def agent_progress(handle: Handle, *, quiet: bool) -> Callable[[], Awaitable[Progress]]:
    """An agent run's progress: its transcript as lines (none if `quiet`)."""

    async def progress() -> Progress:
        state = await handle.query(AgentWorkflow.state)
        messages = [] if quiet else await handle.query(AgentWorkflow.transcript)
        return state.pending_approvals, [line for _, line in numbered(messages) if line]

    return progress
