"""How AgentWorkflow runs a sub-agent tool call: the other agent as a child workflow
(workflow code: deterministic, no I/O). See tether/subagents.py."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from tether._messages import ToolCall
    from tether._records import ToolSpec
    from tether._run_io import INPUT_GENERATION, AgentInput, AgentResult
    from tether._subagents import Handoff
    from tether._validation import describe
    from tether._visibility import code, inline
    from tether._wire import ToolOutcome

from tether._workflows.agent_runs import execute_agent

if TYPE_CHECKING:
    from tether._workflows.tool_calls import RunContext


async def run_subagent(
    tool: ToolSpec,
    call: ToolCall,
    *,
    turn: int,
    tokens_left: int | None,
    deadline: datetime | None,
    inherits: RunContext | None = None,
) -> tuple[ToolOutcome, AgentResult | None]:
    """The outcome for the parent's model, and the child's result (None if it never
    ran or failed) for the parent to add its usage. The child acts for whom the parent
    acts, names the parent's starter, and keeps the parent's rules for deciding calls
    (`inherits`, from `RunContext.for_child`; runs recorded before that pass none)."""
    agent = tool.agent or ""
    try:
        task = Handoff.model_validate_json(call.arguments or "{}").task
    except ValidationError as e:
        return _invalid(tool, e), None
    seconds_left = (deadline - workflow.now()).total_seconds() if deadline else None
    if (tokens_left is not None and tokens_left <= 0) or (
        seconds_left is not None and seconds_left <= 0
    ):
        return _error("tool_error", f"this run has no budget left for the {agent} agent"), None
    parent = workflow.info().workflow_id
    try:
        # Checked here: a model's task can be anything (100,000 characters and more),
        # and a ValidationError raised further on would fail every workflow task.
        child = AgentInput(
            agent=agent,
            prompt=task,
            max_total_tokens=tokens_left,
            deadline_seconds=seconds_left,
            generation=INPUT_GENERATION,
        )
    except ValidationError as e:
        return _invalid(tool, e), None
    _inherit(child, inherits)
    try:
        result = await execute_agent(
            child,
            # Deterministic, like a tool's idempotency key: a replay finds the same child.
            id=f"{parent}:{turn}:{call.id}",
            details=f"**Sub-agent** of {inline(parent)} (turn {turn}, tool call "
            f"{inline(call.id)})\n\n**Task**\n\n{code(task[:2000])}",
        )
    except ChildWorkflowError as e:
        if is_cancelled_exception(e):
            raise  # the parent was cancelled or reached its deadline
        cause = e.cause.message if isinstance(e.cause, FailureError) else e.message
        return _error("tool_error", f"the {agent} agent failed: {cause}"), None
    if result.status == "completed":
        return ToolOutcome(content=result.answer or "(the agent gave no answer)"), result
    last = f" Its last answer: {result.answer}" if result.answer else ""
    return _error("tool_error", f"the {agent} agent stopped ({result.status}).{last}"), result


def _inherit(child: AgentInput, inherits: RunContext | None) -> None:
    """Give a sub-agent's input what it inherits from its parent's run."""
    if inherits is not None and inherits.bound:
        # Set only when given: the input of an older run's child stays as it was.
        for name in ("acting_for", "started_by"):
            if (value := getattr(inherits, name)) is not None:
                setattr(child, name, value)
        child.parent_rules = list(inherits.parent_rules)


def _invalid(tool: ToolSpec, error: ValidationError) -> ToolOutcome:
    problem = describe(error, whole="arguments")
    return _error("invalid_arguments", f"invalid arguments for {tool.name}: {problem}")


def _error(kind: str, message: str) -> ToolOutcome:
    return ToolOutcome.model_validate({"error": kind, "content": f"Error: {message}"})
