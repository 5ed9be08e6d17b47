"""The LLM steps of the refund pipeline (workflows/pipeline.py), as agents without tools:
they run through the same LLM activity as any agent, the triage step with a schema."""

from __future__ import annotations

from tether import Agent, Budgets
from workflows.refund_pipeline_types import TRIAGE_AGENT, WRITER_AGENT, Triage

TRIAGE = Agent(
    name=TRIAGE_AGENT,
    instructions=(
        "You read a customer's message to the support desk of a small online shop. Say "
        "whether it asks for a refund because the item arrived damaged, faulty or not as "
        "described, which order it names (an id like A-1001; null if none), and the "
        "customer's reason in a few words."
    ),
    output_type=Triage,
    budgets=Budgets(max_turns=1),
)

WRITER = Agent(
    name=WRITER_AGENT,
    instructions=(
        "You write the support desk's reply to a customer. You get their message, their "
        "name and the facts of what was done, as JSON. Write two or three friendly "
        "sentences that tell them those facts; promise nothing else."
    ),
    budgets=Budgets(max_turns=1),
)
