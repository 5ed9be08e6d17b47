"""Agent runs started from workflow code: a sub-agent tool call's child run, and
`run_agent` in a user's own workflow (workflow code: deterministic, no I/O)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._policies import Budgets
    from tether._run_io import INPUT_GENERATION, AgentInput, AgentResult, budget_fields
    from tether._visibility import agent_memo, run_summary

if TYPE_CHECKING:
    from tether._agents import Agent

AGENT_WORKFLOW = "AgentWorkflow"  # the workflow type; histories name it, keep it


async def execute_agent(params: AgentInput, *, id: str, details: str) -> AgentResult:
    """Run `params` as a child AgentWorkflow under `id` and wait for its result."""
    result: AgentResult = await workflow.execute_child_workflow(
        AGENT_WORKFLOW,
        params,
        id=id,
        result_type=AgentResult,
        static_summary=run_summary(
            f"{params.agent} for {workflow.info().workflow_id}", params.prompt
        ),
        static_details=details,
        memo=agent_memo(params.agent),
    )
    return result


async def run_agent(
    agent: Agent | str,
    prompt: str,
    *,
    budgets: Budgets | None = None,
    model: str | None = None,
    approval_timeout: timedelta | None = None,
    acting_for: str | None = None,
    started_by: str | None = None,
    id: str | None = None,
) -> AgentResult:
    """Run an agent on `prompt` from your own workflow, to its answer.

    The agent runs as a child workflow of yours (its own run in the web UI, linked to
    yours): its model and tool calls are activities, its approvals wait for a person as
    any run's do (`tether approve <its id>`), and it ends as any run ends. Call it from
    workflow code, e.g. in a `Pipeline` step that needs open-ended judgement; a worker
    that serves the agent (`TetherPlugin`) must poll your workflow's task queue.

    Args:
        agent: The `Agent` (or its name) to run; a worker on this task queue must serve it.
        prompt: The task, with everything the agent needs to know.
        budgets: Lower the agent's budgets for this run (see `Budgets`).
        model: Override the agent's model (one its `models` allow).
        approval_timeout: An undecided approval counts as rejected after this.
        acting_for: Who the run acts for (`ToolContext.acting_for`); default: who your
            `Pipeline` acts for.
        started_by: Who started it; default: who started your `Pipeline`.
        id: The child run's workflow id; default `<your id>:<agent>:<8 hex>`, the same
            on every replay.

    Returns:
        How the run ended: its `status` says whether it completed or hit a budget.

    Raises:
        temporalio.exceptions.ChildWorkflowError: the run failed (its cause says why).
    """
    name = agent if isinstance(agent, str) else agent.name
    context = _caller_context()
    options = {
        "model": model,
        "approval_timeout_seconds": approval_timeout.total_seconds() if approval_timeout else None,
        "acting_for": acting_for if acting_for is not None else context[0],
        "started_by": started_by if started_by is not None else context[1],
    }
    params = AgentInput(
        agent=name,
        prompt=prompt,
        generation=INPUT_GENERATION,
        **budget_fields(budgets),
        **{k: v for k, v in options.items() if v is not None},
    )
    parent = workflow.info().workflow_id
    return await execute_agent(
        params,
        id=id or f"{parent}:{name}:{workflow.uuid4().hex[:8]}",
        details=f"**Agent run** of `{parent}`\n\n**Task**\n\n{prompt[:2000]}",
    )


def _caller_context() -> tuple[str | None, str | None]:
    """Who the calling workflow acts for and who started it, if it is a Tether run."""
    context = getattr(workflow.instance(), "_context", None)
    return getattr(context, "acting_for", None), getattr(context, "started_by", None)
