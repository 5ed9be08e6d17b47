"""How AgentWorkflow runs the tool calls the model asks for (workflow code:
deterministic, no I/O).

`ToolCalls` runs all the calls of one model message at once, each its own activity,
and keeps the run's status and event feed current while they run. One call:
- An unknown tool is answered here, without an activity.
- A `needs_approval` tool first waits for a person's decision (see approvals.py), or
  its approval policy's (policy_gate.py).
- The built-in `wait` tool is a durable timer, not an activity.
- An `ask_person` tool asks a person a question and waits for the answer (questions.py).
- A `subagent` tool runs another agent as a child workflow (see subagents.py).
- Any other runs as an activity (tool_activities.py).
Each path returns a `ToolOutcome`: bad calls are explained to the model, while
infrastructure errors are retried by Temporal per the tool's retry policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from tether._events import ToolCallFinished, ToolCallStarted
    from tether._messages import ToolCall
    from tether._records import AgentSpec, ToolSpec
    from tether._run_io import ApprovalDecision
    from tether._tools import unknown_tool
    from tether._trust import ApprovalRules
    from tether._visibility import inline
    from tether._waiting import WAIT, WaitArgs
    from tether._wire import (
        JudgeReply,
        ToolOutcome,
        ToolRequest,
    )

from tether._workflows.approvals import Approvals, edited_note, policy_note
from tether._workflows.events import RunEvents
from tether._workflows.interrupts import Interrupts, TurnStopped, stopped_call
from tether._workflows.person_waits import Rules
from tether._workflows.policy_gate import PolicyGate
from tether._workflows.publishing import Publisher
from tether._workflows.questions import Questions, question_rules
from tether._workflows.run_state import Limits, Spend
from tether._workflows.subagents import run_subagent
from tether._workflows.tool_activities import execute_tool, runs_locally

RunSubagent = Callable[[ToolSpec, ToolCall, "RunContext"], Awaitable[ToolOutcome]]


@dataclass(frozen=True)
class RunContext:
    """What a run's tool calls carry besides their arguments: who it acts for and who
    started it (both from its input), and whether it follows generations.BOUND_AND_SCOPED."""

    acting_for: str | None = None
    started_by: str | None = None
    bound: bool = False
    parent_rules: tuple[ApprovalRules, ...] = ()  # a sub-agent's: its parents' rules

    def rules(self, spec: AgentSpec, tool: ToolSpec) -> Rules | None:
        """What a decision on a call of `tool` must satisfy (None for older runs)."""
        if not self.bound:
            return None
        return Rules(
            # MCP schemas are the server's own (any JSON schema): its activity checks them.
            schema=tool.parameters if tool.mcp is None else None,
            approvers=tuple(spec.approvers) if spec.approvers is not None else None,
            started_by=self.started_by,
            keys=spec.approver_keys,
            inherited=self.parent_rules,
        )

    def gate(
        self, spec: AgentSpec, tool: ToolSpec, turn: int, on_reply: Callable[[JudgeReply], None]
    ) -> PolicyGate | None:
        """The approval policy a call of `tool` is decided by, with the run's facts."""
        policy = spec.policy_for(tool)
        if policy is None:
            return None
        facts = {"acting_for": self.acting_for, "started_by": self.started_by, "turn": turn}
        return PolicyGate(
            policy,
            agent=spec.name,
            model=spec.model,
            description=tool.description,
            facts={k: v for k, v in facts.items() if v is not None},
            on_reply=on_reply,
        )

    def for_child(self, spec: AgentSpec) -> RunContext:
        """What a sub-agent's run inherits: who it acts for, who started it, and the
        rules for deciding calls of this run and its parents."""
        own = ApprovalRules(approvers=spec.approvers, approver_keys=spec.approver_keys)
        return dataclasses.replace(self, parent_rules=(own, *self.parent_rules))


class ToolCalls:
    """An agent run's tool calls: those of one model message all at once, each told to
    the event feed as it starts and ends; the calls that wait for a person (through
    `approvals`, whose changes the run's status shows); sub-agents within what is left
    of the run's budgets. `context` and `approval_timeout` are the run's, set once its
    input is read."""

    def __init__(self, events: RunEvents, shown: Publisher, limits: Limits, spend: Spend) -> None:
        self.context = RunContext()
        self.approval_timeout = timedelta(0)
        self.approvals = Approvals(on_change=self._people_changed, publish=events.publish)
        self.questions = Questions(on_change=self._people_changed, publish=events.publish)
        self._waiting: str | None = None  # the tools the run waits for, while they run
        self._events = events
        self._shown = shown
        self._limits = limits
        self._spend = spend

    async def run(
        self,
        spec: AgentSpec,
        calls: list[ToolCall],
        turn: int,
        *,
        local: bool,
        interrupts: Interrupts,
    ) -> list[ToolOutcome]:
        """The outcome of each call, in the calls' order; `local`: whether `fast` tools
        may run as local activities now.

        Raises:
            TurnStopped: an interrupt stopped the calls not done yet (see
                interrupts.py); its `outcomes` say what became of each.
        """
        self._waiting = "tools: " + ", ".join(inline(c.name) for c in calls)
        self._shown.set_status("running", self._waiting)
        runs: list[asyncio.Task[ToolOutcome]] = []

        async def every_call() -> list[ToolOutcome]:
            runs.extend(asyncio.ensure_future(self._run(spec, c, turn, local)) for c in calls)
            return await asyncio.gather(*runs)

        step = f"tool calls ({', '.join(c.name for c in calls)})"
        try:
            return await interrupts.during(
                step, every_call, local=any_local(spec, calls, local=local)
            )
        except TurnStopped as stopped:
            # Cancelled, each call stops by its own rules: wait for every one.
            await workflow.wait_condition(lambda: all(run.done() for run in runs))
            stopped.outcomes = self._stopped(spec, calls, runs, turn, stopped.abandoned)
            raise
        finally:
            self._waiting = None

    def _stopped(
        self,
        spec: AgentSpec,
        calls: list[ToolCall],
        runs: list[asyncio.Task[ToolOutcome]],
        turn: int,
        abandoned: list[str],
    ) -> list[ToolOutcome]:
        """Each call's outcome once an interrupt stopped them (each stopped by its own
        rules first): a call that finished anyway keeps its result. What the interrupt
        abandoned goes into `abandoned`, in words."""
        abandoned.clear()
        outcomes = []
        for i, call in enumerate(calls):
            run = runs[i] if i < len(runs) else None
            if run is not None and not run.cancelled() and run.exception() is None:
                outcomes.append(run.result())
                continue
            error = run.exception() if run is not None and not run.cancelled() else None
            if error is not None and not is_cancelled_exception(error):
                raise error
            tool = spec.tool(call.name)
            # A call that waited for a decision and got none never ran; a question or a
            # durable wait has no effect to check: each was withdrawn.
            ran = run is not None and not (
                tool is not None
                and (
                    (tool.gated and self.approvals.decision(call.id) is None)
                    or tool.builtin in ("ask_person", "wait")
                )
            )
            outcome = stopped_call(call, ran=ran)
            abandoned.append(
                f"{call.name} (call {call.id}) "
                + ("stopped while it ran" if ran else "withdrawn before it ran")
            )
            self._events.publish(ToolCallFinished.of(turn, call, outcome.content, outcome.error))
            outcomes.append(outcome)
        return outcomes

    async def _run(self, spec: AgentSpec, call: ToolCall, turn: int, local: bool) -> ToolOutcome:
        self._events.publish(ToolCallStarted.of(turn, call))
        outcome = await run_tool_call(
            spec,
            call,
            turn=turn,
            approvals=self.approvals,
            approval_timeout=self.approval_timeout,
            questions=self.questions,
            run_subagent=functools.partial(self._run_subagent, turn),
            local_allowed=local,
            context=self.context,
            on_reply=self._spend.add_judged,
        )
        self._events.publish(ToolCallFinished.of(turn, call, outcome.content, outcome.error))
        return outcome

    async def _run_subagent(
        self, turn: int, tool: ToolSpec, call: ToolCall, inherits: RunContext
    ) -> ToolOutcome:
        """The other agent as a child run, within what is left of this run's budgets;
        its tokens (and cost) count as this run's."""
        outcome, child = await run_subagent(
            tool,
            call,
            turn=turn,
            tokens_left=self._limits.tokens_left(self._spend.usage),
            deadline=self._limits.deadline,
            inherits=inherits,
        )
        if child is not None:
            self._spend.add_child(child)
            self._shown.publish()
        return outcome

    def _people_changed(self) -> None:
        """What the run waits for now that a call or a question waits for a person, or
        no longer does: approvals first, as they hold back a tool that acts."""
        if pending := self.approvals.pending:
            calls = ", ".join(f"{p.tool} (call {p.call_id})" for p in pending)
            self._shown.set_status("awaiting_approval", f"a person to approve {calls}")
        elif questions := self.questions.pending:
            asked = ", ".join(f"{q.tool} (call {q.call_id})" for q in questions)
            self._shown.set_status("awaiting_answer", f"a person to answer {asked}")
        else:
            self._shown.set_status("running", self._waiting)


def any_local(spec: AgentSpec, calls: list[ToolCall], *, local: bool) -> bool:
    """Whether any of `calls` runs as a local activity."""
    return any(runs_locally(t, local=local) for c in calls if (t := spec.tool(c.name)))


def awaits_approval(spec: AgentSpec, calls: list[ToolCall]) -> bool:
    """Whether any of `calls` is of a tool that waits for a person: for a decision, or
    for the answer to a question (an update may then arrive while the calls run)."""
    return any(t.gated or t.builtin == "ask_person" for c in calls if (t := spec.tool(c.name)))


async def run_tool_call(
    spec: AgentSpec,
    call: ToolCall,
    *,
    turn: int,
    approvals: Approvals,
    approval_timeout: timedelta,
    run_subagent: RunSubagent,
    questions: Questions,
    local_allowed: bool = True,
    context: RunContext = RunContext(),
    on_reply: Callable[[JudgeReply], None] = lambda _: None,
) -> ToolOutcome:
    """Run one tool call of the model's message at `turn`; `run_subagent` is the
    workflow's, which knows its budgets; `questions` asks for `ask_person` tools; a
    `fast` tool runs as a local activity only if `local_allowed`; `on_reply` counts a
    policy's judge's tokens and cost."""
    tool = spec.tool(call.name)
    if tool is None:
        return unknown_tool(call.name, [t.name for t in spec.tools])
    if tool.builtin == "wait":
        return await _durable_wait(call)
    if tool.builtin == "ask_person":
        rules = question_rules(spec, tool, bound=context.bound)
        return await questions.ask(tool, call, turn=turn, rules=rules)
    if tool.gated:
        approved = await approvals.wait(
            call,
            turn=turn,
            expires_after=approval_timeout,
            rules=context.rules(spec, tool),
            policy=context.gate(spec, tool, turn, on_reply),
        )
        if isinstance(approved, ToolOutcome):
            return approved
        decision = approvals.decision(call.id)
        outcome = await _dispatch(
            spec, tool, approved, turn, run_subagent, local_allowed, context, decision
        )
        # What the model (and the transcript) is told of who let the call run.
        note = policy_note(decision)
        if decision is not None and decision.arguments is not None:
            note = edited_note(approved.arguments)
        return outcome.model_copy(update={"content": note + outcome.content}) if note else outcome
    return await _dispatch(spec, tool, call, turn, run_subagent, local_allowed, context)


async def _dispatch(
    spec: AgentSpec,
    tool: ToolSpec,
    call: ToolCall,
    turn: int,
    run_subagent: RunSubagent,
    local_allowed: bool,
    context: RunContext,
    decision: ApprovalDecision | None = None,
) -> ToolOutcome:
    if tool.builtin == "subagent":
        return await run_subagent(tool, call, context.for_child(spec))
    request = tool_request(spec, call, turn, context, decision)
    return await execute_tool(tool, request, local=local_allowed)


def tool_request(
    spec: AgentSpec,
    call: ToolCall,
    turn: int,
    context: RunContext = RunContext(),
    decision: ApprovalDecision | None = None,
) -> ToolRequest:
    """The tool activity's input: the call, its idempotency key, and what the tool may
    know of the run (who it acts for, the decision that let the call run)."""
    info = workflow.info()
    # Stable across retries and replays; the turn guards against providers that reuse
    # call ids across messages. A run's own: a workflow id may be used again once its
    # run has closed, and a namespace's ids are not another's.
    key = f"{info.workflow_id}:{turn}:{call.id}"
    if context.bound:
        key = f"{info.namespace}:{info.workflow_id}:{info.first_execution_run_id}:{turn}:{call.id}"
    request = ToolRequest(agent=spec.name, call=call, idempotency_key=key)
    if spec.digest is not None:  # the activity then acts on the agent this run recorded
        request.digest = spec.digest
    if context.acting_for is not None:
        request.acting_for = context.acting_for
    if decision is not None and context.bound:
        request.approval = decision  # the activity checks the call against it
    return request


async def _durable_wait(call: ToolCall) -> ToolOutcome:
    args = WAIT.parse(call.arguments)
    if isinstance(args, ToolOutcome):
        return args
    assert isinstance(args, WaitArgs)
    await workflow.sleep(
        timedelta(hours=args.hours), summary=f"wait {args.hours:g} h: {args.reason}"[:200]
    )
    return ToolOutcome(
        content=f"Waited {args.hours:g} hours ({args.reason}). "
        f"It is now {workflow.now():%Y-%m-%d %H:%M} UTC."
    )
