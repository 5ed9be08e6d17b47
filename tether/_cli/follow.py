"""Following a run as it goes: its messages, its status, and approvals to ask for."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import FailureError
from temporalio.service import RPCError

from tether._cli.common import cli_signer, decide_command, numbered, person, prog, shown_call
from tether._cli.notices import Notices
from tether._cli.prompting import read_line
from tether._cli.reading import ask_state, ask_transcript
from tether._questions import given_answer
from tether._run_handles import first_run_id
from tether._run_io import ApprovalDecision, PendingApproval, PendingQuestion, QuestionAnswer
from tether._signing import Signer
from tether._visibility import answer_command, policy_line
from tether._workflows.agent import AgentWorkflow
from tether._workflows.pipeline import PipelineState

POLL_SECONDS = 0.25
R = TypeVar("R")
# What waits for a person, and every progress line of the run so far.
Progress = tuple[list[PendingApproval], list[str]]


@dataclass
class Approver:
    """Who decides the calls that wait for a person while the CLI follows a run.

    `ask` prompts on the terminal; `approve_all` approves without asking (for demos
    and scripts); with neither, the CLI only says how to decide from another shell.
    Its notices go to stderr, so that --json output stays one JSON document. Decisions
    are signed for the run in `namespace` with `signer`, by default the CLI user's key
    (TETHER_SIGNING_KEY), when there is one.
    """

    workflow_id: str
    ask: bool = False
    approve_all: bool = False
    namespace: str = "default"
    signer: Signer | None = None
    _seen: set[str] = field(default_factory=set)
    # Calls it saw and could not decide (no terminal): someone else must.
    undecided: list[PendingApproval] = field(default_factory=list)
    decided: set[str] = field(default_factory=set)  # the calls it decided

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
                signer = self.signer or cli_signer()
                decision = await signed(decision, call, handle, self.namespace, signer)
                await handle.execute_update(AgentWorkflow.decide, decision)
                self.decided.add(call.call_id)
            else:
                self.undecided.append(call)

    async def ask_questions(
        self, handle: WorkflowHandle[Any, Any], pending: list[PendingQuestion]
    ) -> None:
        """On a terminal, ask the person the questions in `pending` not seen before, and
        send each answer (signed as decisions are); one the run refuses is asked again,
        with why. An empty line leaves the question to `tether answer`."""
        for question in pending:
            if question.call_id in self._seen or not self.ask:
                continue
            self._seen.add(question.call_id)
            offered = f" [{' | '.join(question.choices)}]" if question.choices else ""
            asked = " ".join(question.question.split())
            while (text := await self._answer(question, f"  ? {asked}{offered} ")) is not None:
                answer = QuestionAnswer(value=json.dumps(given_answer(text, question)))
                if (signer := self.signer or cli_signer()) is not None:
                    answer = signer.sign_answer(
                        answer,
                        question=question,
                        namespace=self.namespace,
                        workflow_id=handle.id,
                        first_run_id=await first_run_id(handle),
                        answerer=person(),
                    )
                else:
                    answer.answerer = person()
                try:
                    await handle.execute_update(AgentWorkflow.answer, answer)
                    break
                except WorkflowUpdateFailedError as e:
                    why = e.cause.message if isinstance(e.cause, FailureError) else str(e)
                    print(f"    {why}", file=sys.stderr)

    async def _answer(self, question: PendingQuestion, prompt: str) -> str | None:
        """A line the person typed; None if they left it to another shell."""
        later = answer_command(self.workflow_id, question)
        try:
            text = (await read_line(prompt)).strip()
        except EOFError:
            text = ""
        except asyncio.CancelledError:  # Ctrl-C
            print(f"\n  (interrupted: the question waits: {later})", file=sys.stderr)
            raise
        if not text:
            print(f"  (not answered here: {later})", file=sys.stderr)
            return None
        return text

    async def _decide(self, call: PendingApproval) -> ApprovalDecision | None:
        shown = shown_call(call)
        if call.policy is not None and call.policy.judge is not None:
            # A judge model reviewed the call and did not approve it: say what it said.
            print(f"  ⚖ {policy_line(call.policy)}", file=sys.stderr)
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
            answer = await read_line(f"  ? approve {shown}? [y/N] ")
            if answer.strip().lower() in ("y", "yes"):
                return decision_on(call, approve=True)
            reason = await read_line("    reason (optional): ")
        except EOFError:
            print(f"\n  (no answer: decide with {prog()} approve/reject)", file=sys.stderr)
            return None
        except asyncio.CancelledError:  # Ctrl-C
            print(
                f"\n  (interrupted: run {self.workflow_id} goes on, and the call waits for "
                f"approval: {decide_command(self.workflow_id, call)}, or reject)",
                file=sys.stderr,
            )
            raise
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


async def signed(
    decision: ApprovalDecision,
    call: PendingApproval,
    handle: WorkflowHandle[Any, Any],
    namespace: str,
    signer: Signer | None,
) -> ApprovalDecision:
    """`decision` signed by `signer` for `call` of the run (as it is without one)."""
    if signer is None:
        return decision
    return signer.sign(
        decision,
        call=call,
        namespace=namespace,
        workflow_id=handle.id,
        first_run_id=await first_run_id(handle),
    )


async def follow(
    handle: WorkflowHandle[Any, R],
    approver: Approver,
    progress: Callable[[], Awaitable[Progress | None]],
    notices: Notices | None = None,
) -> R:
    """Wait for the run's result, printing each new line of its `progress` (None: no
    worker answered) as it appears and letting `approver` decide what waits for a
    person; with `notices`, also what Temporal retries, and the run's history while no
    worker polls."""
    result_task = asyncio.create_task(handle.result())
    printed: list[str] = []

    def show(lines: list[str]) -> None:
        nonlocal printed
        if lines:  # lines from history and from the worker: each line once
            for line in lines[_common_prefix(lines, printed) :]:
                print(line, flush=True)
            printed = lines

    try:
        while True:
            done, _ = await asyncio.wait({result_task}, timeout=POLL_SECONDS)
            if notices is not None:
                show(await notices.check(now=bool(done)) or [])
                if not notices.polling:
                    if done:
                        return result_task.result()
                    continue
            try:
                # A closed run still answers queries, so its last lines get printed.
                pending, lines = await progress() or ([], [])
            except (RPCError, WorkflowQueryFailedError):
                pending, lines = [], []  # no worker yet, or the run is between runs
            show(lines)
            if done:
                return result_task.result()
            await approver.attend(handle, pending)
    except asyncio.CancelledError:  # Ctrl-C
        say_stopped_following(handle)
        raise
    finally:
        result_task.cancel()


def say_stopped_following(handle: WorkflowHandle[Any, Any]) -> None:
    """What Ctrl-C while following a run says: the run goes on, and how to follow it."""
    print(
        f"\n  (stopped following: run {handle.id} goes on; {prog()} watch {handle.id} "
        "follows it again)",
        file=sys.stderr,
    )


def _common_prefix(lines: list[str], other: list[str]) -> int:
    same = 0
    for mine, theirs in zip(lines, other, strict=False):
        if mine != theirs:
            break
        same += 1
    return same


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


def any_progress(
    handle: WorkflowHandle[Any, Any], *, quiet: bool
) -> Callable[[], Awaitable[Progress | None]]:
    """A run's progress as its `state` shows it: a pipeline's steps, an agent's
    transcript (no lines if `quiet`); None while no worker answers."""

    async def progress() -> Progress | None:
        state = await ask_state(handle)
        if state is None or quiet:
            return None if state is None else (state.pending_approvals, [])
        if isinstance(state, PipelineState):
            return state.pending_approvals, [f"  · {step}" for step in state.steps]
        messages = await ask_transcript(handle)
        if messages is None:
            return None
        return state.pending_approvals, [line for _, line in numbered(messages) if line]

    return progress
