"""A user's own workflow that hands one open-ended step to an agent with
`tether.workflow.run_agent`, as a project outside Tether would write it (a module of its
own: Temporal re-imports a workflow's module in its sandbox)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from tether import AgentResult, Budgets, tool
from tether.workflow import Pipeline, PipelineInput, run_agent


@tool
def find_order(order_id: str) -> str:
    """Look an order up by its id."""
    return f"order {order_id}: a teapot, delivered broken"


class Handled(BaseModel):
    """What the workflow returns: its own step, and the agent's run."""

    ticket: str
    agent: AgentResult
    acting_for: str | None


@workflow.defn
class TicketWorkflow(Pipeline):
    """A deterministic step (normalising the ticket), then an agent for the judgement."""

    @workflow.run
    async def run(self, *args: Any) -> Handled:
        ticket = self.read_input(PipelineInput, args)
        text = " ".join(ticket.text.split())
        self.step(f"normalised: {text}")
        result = await run_agent(
            "order-clerk", f"Handle this ticket: {text}", budgets=Budgets(max_turns=4)
        )
        self.finish(result.status)
        return Handled(ticket=text, agent=result, acting_for=ticket.acting_for)
