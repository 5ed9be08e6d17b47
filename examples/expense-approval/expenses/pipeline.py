"""ExpensePipeline: a claim read by a model, decided in code.

A workflow in a module of its own: Temporal re-imports this module in its sandbox to
check the workflow, and refuses I/O, clocks and randomness there, also at import. It
imports `temporalio`, `tether` and the pure `expenses.models`, never the agents' module.
"""

from datetime import timedelta
from typing import Any

from temporalio import workflow

from tether import Budgets, Message, ToolCall
from tether.workflow import Pipeline, PipelineInput, run_agent, tool_call

with workflow.unsafe.imports_passed_through():
    from expenses.models import APPROVAL_ABOVE, CATEGORIES, CLERK, LIMIT, READER, REVIEWER, Claim


@workflow.defn
class ExpensePipeline(Pipeline):
    """Read the claim, review an unusual one, refuse one over the limit, ask a person
    above a threshold, pay."""

    @workflow.run
    async def run(self, *args: Any) -> str:
        text = self.read_input(PipelineInput, args).text
        reader = await self.agent(READER)
        messages = [Message.system(reader.instructions), Message.user(text)]
        claim = await self.ask_for(Claim, reader, messages, step="read the claim")
        self.step(f"claim: {claim.employee} · ${claim.amount:.2f} · {claim.category}")
        if claim.amount > LIMIT:
            return self.done("refused", f"over the ${LIMIT:,.0f} limit")
        if claim.category not in CATEGORIES:  # open-ended: an agent looks into it
            review = await run_agent(
                REVIEWER, f"{claim.description} (${claim.amount:.2f})", budgets=Budgets(max_turns=3)
            )
            if not (review.answer or "").lower().startswith("yes"):
                return self.done("refused", f"review: {review.answer}")
        clerk = await self.agent(CLERK)
        call = tool_call("pay_expense", {"employee": claim.employee, "amount": claim.amount})
        if claim.amount > APPROVAL_ABOVE:
            decided = await self.approval(call, expires_after=timedelta(days=2), agent=clerk)
            if not isinstance(decided, ToolCall):
                return self.done("rejected", "a person declined it")
            call = decided
        paid = await self.use_tool(clerk, call.name, call)
        return self.done("paid", paid.content)

    def done(self, outcome: str, why: str) -> str:
        """End the run with `outcome` (its status in `tether status` and the web UI)."""
        self.step(f"{outcome}: {why}")
        self.finish(outcome)
        return outcome
