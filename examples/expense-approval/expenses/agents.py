"""The agents whose model and tools the pipeline's steps use, the same process as one
agent (to compare the two: `evals/`), and what a worker serves:
`tether worker --agents expenses.agents:REGISTRY`."""

import os
import sqlite3

from expenses.models import CLERK, DESK, READER, REVIEWER, Claim
from expenses.pipeline import ExpensePipeline
from tether import Agent, AgentRegistry, Budgets, Tool, ToolContext, tool


@tool(side_effects=True)
def pay_expense(ctx: ToolContext, employee: str, amount: float) -> str:
    """Pay an employee's expense claim."""
    with sqlite3.connect(os.environ.get("EXPENSES_DB", "expenses.db"), timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS paid (employee TEXT, amount REAL, key TEXT UNIQUE)")
        db.execute(  # the key makes a retried call a no-op: the claim is paid once
            "INSERT INTO paid VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (employee, amount, ctx.idempotency_key),
        )
    return f"paid {employee} ${amount:.2f}"


READ = Agent(
    name=READER,
    instructions=(
        "Read the expense claim: who spent how much, on which category (travel, meals, "
        "equipment or other), and what for."
    ),
    output_type=Claim,
    budgets=Budgets(max_turns=1),
)
PAY = Agent(name=CLERK, instructions="You pay expense claims.", tools=[pay_expense])
REVIEW = Agent(
    name=REVIEWER,
    instructions="Is this a business expense? Answer yes or no, then say why in a sentence.",
    budgets=Budgets(max_turns=3),
)

# The whole process as one agent: the model reads, decides and pays, so a person
# approves every payment it makes.
EXPENSE_DESK = Agent(
    name=DESK,
    instructions=(
        "You decide employees' expense claims. Never pay a claim over $5,000. A claim for "
        "travel, meals or equipment is a business expense; any other is paid only when it "
        "was for a client. Pay a claim you accept with pay_expense, then answer in one "
        "sentence starting with paid, refused or rejected (when the payment was declined)."
    ),
    tools=[Tool(pay_expense.fn, side_effects=True, needs_approval=True)],
    budgets=Budgets(max_turns=4),
)

REGISTRY = AgentRegistry([READ, PAY, REVIEW, EXPENSE_DESK], workflows=[ExpensePipeline])
