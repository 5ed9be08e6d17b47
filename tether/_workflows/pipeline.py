"""Pipeline: the base of your own deterministic workflows with LLM steps (workflow code).

Not every process should be an autonomous agent. A pipeline is a workflow you write
step by step, asking a model only where judgement is needed, through the same LLM and
tool activities, idempotency keys and approvals as an agent:

    @workflow.defn
    class TicketPipeline(Pipeline):
        @workflow.run
        async def run(self, *args: Any) -> PipelineResult:
            ticket = self.read_input(PipelineInput, args)
            reader = await self.agent("ticket-reader")
            triage = await self.ask_for(Triage, reader, [Message.user(ticket.text)], step="triage")
            found = await self.use_tool(reader, "lookup_order", {"order_id": triage.order_id})
            ...

It answers the `state` query (a `PipelineState`: status, the steps done, what waits for
a person) and the `transcript` query (its LLM steps' messages), and takes the `decide`
update: the protocol every Tether run type keeps, so `tether status`, `watch`,
`transcript`, `list`, `approve` and `reject` work on it as on an agent run; `tether
pipeline TEXT --workflow NAME` starts one with a `PipelineInput`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field

    from tether._events import RunEnded, StepDone, ToolCallFinished, ToolCallStarted, TurnStarted
    from tether._limits import DAY_SECONDS, MAX_NAME_CHARS, MAX_PROMPT_CHARS
    from tether._messages import Message, ToolCall, Usage
    from tether._records import AgentSpec
    from tether._run_io import DecidedCall, PendingApproval
    from tether._trust import ApproverKeys
    from tether._visibility import approval_details, code
    from tether._wire import JudgeReply, LlmReply, LlmRequest, ToolOutcome

from tether._workflows.approvals import Approvals, DecidesApprovals
from tether._workflows.events import RunEvents
from tether._workflows.generations import paths
from tether._workflows.inputs import checked_input
from tether._workflows.llm_calls import execute_llm, repair_request
from tether._workflows.person_waits import Rules
from tether._workflows.spec_calls import describe_agent
from tether._workflows.tool_activities import execute_tool
from tether._workflows.tool_calls import RunContext, tool_request

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound="PipelineInput")
# A pipeline's tool calls are all of one "turn", and their call ids name the step (by
# default the tool's name: each tool runs once per run).
TURN = 1


class PipelineInput(BaseModel):
    """What `tether pipeline TEXT` starts a pipeline with; subclass it for more fields."""

    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, description="Override the steps' model.")
    approval_timeout_seconds: float = Field(
        default=DAY_SECONDS, gt=0, description="An undecided approval is rejected after this."
    )
    acting_for: str | None = Field(
        default=None,
        max_length=MAX_NAME_CHARS,
        description="Who the run acts for, set by its starter: `ToolContext.acting_for`.",
    )
    started_by: str | None = Field(
        default=None,
        max_length=MAX_NAME_CHARS,
        description="Who started the run, as its starter states it (a label, not a "
        "proof): never an approver of its calls when the agent names approvers.",
    )


class PipelineState(BaseModel):
    """A pipeline's progress, as its `state` query reports it."""

    status: str = Field(description="running, awaiting_approval, or how it ended.")
    steps: list[str] = Field(description="One line per step done, in order.")
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    decisions: list[DecidedCall] = Field(
        default_factory=list, description="The decisions on its calls, oldest first."
    )
    llm_calls: int = 0
    usage: Usage = Field(default_factory=Usage)


class Pipeline(DecidesApprovals):
    """Base class of a deterministic workflow with LLM steps; see the module docstring.

    A subclass with a `@workflow.init` constructor calls `super().__init__()` first.
    """

    def __init__(self) -> None:
        self._status = "running"
        self._steps: list[str] = []
        self._llm_calls = 0
        self._usage = Usage()
        self._specs: dict[str, AgentSpec] = {}
        self._events = RunEvents(WorkflowStream())
        self._approvals = Approvals(on_change=self._approvals_changed, publish=self._events.publish)
        self._transcript: list[Message] = []
        self._step_start = 0  # where the latest LLM step's messages begin
        # Asked before the run's first command, as the agent asks it first thing.
        self._context = RunContext(bound=paths().bound_and_scoped)

    def read_input(self, model: type[P], args: Sequence[Any]) -> P:
        """The start arguments of `run(self, *args)` as one valid `model` (a
        `PipelineInput`), as `checked_input` returns them; who the run acts for and who
        started it go with every tool call and approval of the run.

        Raises:
            ApplicationError: the input is not one valid `model` (``InvalidInput``).
        """
        params = checked_input(model, args)
        self._context = dataclasses.replace(
            self._context, acting_for=params.acting_for, started_by=params.started_by
        )
        return params

    @workflow.query
    def state(self) -> PipelineState:
        """The pipeline's progress."""
        return PipelineState(
            status=self._status,
            steps=self._steps,
            pending_approvals=self._approvals.pending,
            decisions=self._approvals.taken,
            llm_calls=self._llm_calls,
            usage=self._usage,
        )

    @workflow.query
    def transcript(self) -> list[Message]:
        """The messages of each LLM step so far, step after step, with the replies."""
        return self._transcript

    @property
    def usage(self) -> Usage:
        """Tokens of the model calls so far."""
        return self._usage

    @property
    def llm_calls(self) -> int:
        return self._llm_calls

    def step(self, line: str) -> None:
        """Record a step done: shown by `tether watch`/`status` and in the web UI."""
        self._steps.append(line)
        self._publish()
        self._events.publish(StepDone(text=line))

    def finish(self, status: str) -> None:
        """Set how the pipeline ended (its `state` status), e.g. "refunded": the last
        event of its feed."""
        self._status = status
        self._publish()
        self._events.publish(RunEnded(status=status))
        self._events.close()

    async def agent(self, name: str) -> AgentSpec:
        """The spec of a registered agent whose model and tools a step uses, recorded
        in the run's history once (the run replays against it)."""
        spec = self._specs.get(name)
        if spec is None:
            spec = self._specs[name] = await describe_agent(name)
        return spec

    async def ask(
        self, agent: AgentSpec, messages: list[Message], *, step: str, model: str | None = None
    ) -> LlmReply:
        """One model call with `agent`'s model (or `model`), tools and output type,
        through Tether's LLM activity; `step` names it in the web UI."""
        self._llm_calls += 1
        chosen = model or agent.model
        request = LlmRequest(
            agent=agent.name, model=chosen, messages=messages, turn=self._llm_calls
        )
        self._events.publish(TurnStarted(turn=self._llm_calls, model=chosen))
        reply = await execute_llm(
            agent, request, summary=f"llm {chosen} · {step}", events=self._events
        )
        self._usage += reply.usage
        # A repair resends its step's conversation: only what is new joins the transcript.
        step_so_far = self._transcript[self._step_start :]
        if not step_so_far or messages[: len(step_so_far)] != step_so_far:
            self._step_start, step_so_far = len(self._transcript), []
        self._transcript += [*messages[len(step_so_far) :], reply.message]
        return reply

    async def ask_for(
        self,
        output_type: type[M],
        agent: AgentSpec,
        messages: list[Message],
        *,
        step: str,
        model: str | None = None,
    ) -> M:
        """A structured answer of `agent` (which declares `output_type`), sent back for
        repair up to its `output_repairs` times.

        Raises:
            ApplicationError: ``InvalidOutput``, the answer stayed invalid.
        """
        conversation = list(messages)
        for _ in range(agent.llm.output_repairs + 1):
            reply = await self.ask(agent, conversation, step=step, model=model)
            if reply.output_error is None and reply.output is not None:
                return output_type.model_validate(reply.output)
            conversation += [reply.message, repair_request(reply.output_error or "no answer")]
        raise ApplicationError(
            f"the {step} step's answer was still invalid after repairs",
            type="InvalidOutput",
            non_retryable=True,
        )

    async def use_tool(
        self,
        agent: AgentSpec,
        name: str,
        arguments: dict[str, Any] | ToolCall,
        *,
        call_id: str | None = None,
    ) -> ToolOutcome:
        """Run `agent`'s tool `name` through Tether's tool activity, with its timeouts,
        retries and idempotency key (the run's own; the call id defaults to the tool's
        name). A `ToolCall` (e.g. from `approval`) runs as it is, with the decision
        that approved it."""
        call = arguments if isinstance(arguments, ToolCall) else tool_call(name, arguments, call_id)
        tool = agent.tool(call.name)
        if tool is None:
            raise ApplicationError(
                f"agent {agent.name!r} has no tool {call.name!r}", non_retryable=True
            )
        self._events.publish(ToolCallStarted.of(TURN, call))
        decision = self._approvals.decision(call.id) if isinstance(arguments, ToolCall) else None
        outcome = await execute_tool(tool, tool_request(agent, call, TURN, self._context, decision))
        self._events.publish(ToolCallFinished.of(TURN, call, outcome.content, outcome.error))
        return outcome

    async def approval(
        self,
        call: ToolCall,
        *,
        expires_after: timedelta,
        agent: AgentSpec | None = None,
        facts: Mapping[str, str | float | bool] | None = None,
    ) -> ToolCall | ToolOutcome:
        """Wait for a person to decide `call` (`tether approve/reject`): the call to run
        (its arguments perhaps edited), or the rejection (also when nobody decided in
        time). With `agent`, the call's arguments are checked against its tool's schema
        first, and decisions against the agent's approvers and keys; without one, no
        decision can be proven, and each is refused. If the agent's spec gives the tool
        an approval policy, the policy decides first (a person only if it asks for
        one), with `facts` (from what the run recorded, e.g. an amount looked up) as
        the `context(...)` its rules test."""
        tool = agent.tool(call.name) if agent is not None else None
        rules = self._context.rules(agent, tool) if agent is not None and tool is not None else None
        if rules is None and self._context.bound:
            # No agent, no keys to prove a decision with: every decision is refused.
            rules = Rules(started_by=self._context.started_by, keys=ApproverKeys())
        gate = None
        if agent is not None and tool is not None:
            gate = self._context.gate(agent, tool, TURN, self._judged)
        if gate is not None and facts:
            gate = dataclasses.replace(gate, facts={**gate.facts, **facts})
        return await self._approvals.wait(
            call, turn=TURN, expires_after=expires_after, rules=rules, policy=gate
        )

    def _judged(self, reply: JudgeReply) -> None:
        """A policy's judge's tokens count as the run's."""
        self._usage += reply.usage

    def _approvals_changed(self) -> None:
        self._status = "awaiting_approval" if self._approvals.pending else "running"
        self._publish()

    def _publish(self) -> None:
        info = workflow.info()
        steps = code("\n".join(f"- {s}" for s in self._steps)) if self._steps else ""
        waiting = approval_details(self._approvals.pending, info.workflow_id)
        workflow.set_current_details(
            "\n\n".join(
                [
                    f"**{info.workflow_type}** · `{self._status}`",
                    f"{self._llm_calls} LLM calls · {self._usage.total_tokens:,} tokens",
                    *waiting,
                    steps,
                ]
            )
        )


def tool_call(name: str, arguments: dict[str, Any], call_id: str | None = None) -> ToolCall:
    """A call of tool `name`, its id `call_id` (default: the name)."""
    return ToolCall(id=call_id or name, name=name, arguments=json.dumps(arguments))
