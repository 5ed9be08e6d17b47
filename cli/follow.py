"""Following a run as it goes: its messages, its status, and approvals to ask for."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

from temporalio.service import RPCError

from cli.common import Handle, describe
from tether.seam import AgentResult, ApprovalDecision, PendingApproval, RunState
from workflows.agent import AgentWorkflow

POLL_SECONDS = 0.25


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

    async def attend(self, handle: Handle, state: RunState) -> None:
        for call in state.pending_approvals:
            if call.call_id in self._seen:
                continue
            self._seen.add(call.call_id)
            decision = await self._decide(call)
            if decision is not None:
                await handle.execute_update(AgentWorkflow.decide, decision)

    async def _decide(self, call: PendingApproval) -> ApprovalDecision | None:
        shown = f"{call.tool}({call.arguments})"
        if self.approve_all:
            print(f"  ✓ approved {shown} (--yes)", file=sys.stderr)
            return ApprovalDecision(call_id=call.call_id, approve=True)
        if not self.ask:
            print(
                f"  ⏸ {shown} waits for approval: starter.py approve {self.workflow_id} "
                f"--call {call.call_id} (or reject)",
                file=sys.stderr,
            )
            return None
        try:
            answer = await asyncio.to_thread(input, f"  ? approve {shown}? [y/N] ")
            if answer.strip().lower() in ("y", "yes"):
                return ApprovalDecision(call_id=call.call_id, approve=True)
            reason = await asyncio.to_thread(input, "    reason (optional): ")
        except EOFError:
            print("\n  (no answer: decide with starter.py approve/reject)", file=sys.stderr)
            return None
        return ApprovalDecision(call_id=call.call_id, approve=False, reason=reason.strip() or None)


async def follow(handle: Handle, approver: Approver, *, quiet: bool) -> AgentResult:
    """Wait for the run's result, printing each new message of the transcript as it
    appears (unless `quiet`) and letting `approver` decide what waits for a person."""
    result_task = asyncio.create_task(handle.result())
    shown = turn = 0
    while True:
        done, _ = await asyncio.wait({result_task}, timeout=POLL_SECONDS)
        try:
            # A closed run still answers queries, so its last messages get printed.
            state = await handle.query(AgentWorkflow.state)
            messages = [] if quiet else await handle.query(AgentWorkflow.transcript)
        except RPCError:
            state, messages = None, []  # no worker yet, or the run is between runs
        for message in messages[shown:]:
            if message.role == "assistant":
                turn += 1
            line = describe(message, turn)
            if line:
                print(line, flush=True)
        shown = max(shown, len(messages))
        if done:
            return result_task.result()
        if state is not None:
            await approver.attend(handle, state)
