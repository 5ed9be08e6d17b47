"""Inputs, outputs and agent names of the refund pipeline (pure data: the workflow, the
agents, the offline script and the comparison import it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tether import Usage
from tether.workflow import PipelineInput

# The LLM steps are agents without tools, so they go through the same LLM activity (and
# structured-output check) as any agent; the tools are the support desk's.
TRIAGE_AGENT = "refund-triage"
WRITER_AGENT = "refund-writer"
TOOLS_AGENT = "support-desk"

# Runs started before the `issue_refund` tool had an approval policy (their recorded
# spec has none) ask a person above this, as they did when they started; the others
# follow the policy (activities/refund_policy.py). The shop's rule lives in the code (a
# deploy changes it), never in what whoever starts a run sends.
LEGACY_APPROVAL_ABOVE = 100.0

PipelineOutcome = Literal["refunded", "refused", "rejected", "missing_order"]


class Triage(BaseModel):
    """What the triage step reads from a ticket."""

    wants_refund: bool = Field(
        description="The customer asks for their money back because the item arrived "
        "damaged, faulty or not as described."
    )
    order_id: str | None = Field(description="The order id the ticket names, like A-1001.")
    reason: str = Field(description="The customer's reason, in a few words.")


class RefundTicket(PipelineInput):
    """A customer's message (`text`)."""

    @model_validator(mode="before")
    @classmethod
    def _ticket_is_text(cls, data: Any) -> Any:
        # Runs started before pipelines took a `PipelineInput` sent `ticket`.
        if isinstance(data, dict) and "text" not in data and "ticket" in data:
            return {**data, "text": data["ticket"]}
        return data


class RefundResult(BaseModel):
    outcome: PipelineOutcome
    answer: str = Field(description="The reply drafted for the customer.")
    order_id: str | None
    refunded: float | None = Field(description="The amount refunded, if any.")
    steps: list[str]
    llm_calls: int
    approvals: int = Field(description="Decisions asked of a person.")
    usage: Usage
    model: str
