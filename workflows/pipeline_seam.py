"""Inputs, outputs and step names of the refund pipeline (pure data: the workflow, the
worker, the CLI and the comparison import it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tether.messages import Usage
from tether.seam import DAY_SECONDS, MAX_PROMPT_CHARS, PendingApproval, UncheckedInput

# The LLM steps are agents without tools, so they go through the same LLM activity (and
# structured-output check) as any agent; the tools are the support desk's.
TRIAGE_AGENT = "refund-triage"
WRITER_AGENT = "refund-writer"
TOOLS_AGENT = "support-desk"

PipelineOutcome = Literal["refunded", "refused", "rejected", "missing_order"]
PipelineStatus = Literal["running", "awaiting_approval", PipelineOutcome]


class Triage(BaseModel):
    """What the triage step reads from a ticket."""

    wants_refund: bool = Field(
        description="The customer asks for their money back because the item arrived "
        "damaged, faulty or not as described."
    )
    order_id: str | None = Field(description="The order id the ticket names, like A-1001.")
    reason: str = Field(description="The customer's reason, in a few words.")


class PipelineInput(BaseModel):
    ticket: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, description="Override the steps' model.")
    approval_above: float = Field(
        default=100.0, ge=0, description="Refunds above this amount wait for a person."
    )
    approval_timeout_seconds: float = Field(default=DAY_SECONDS, gt=0)


# What the pipeline accepts: valid input first, anything else (to fail the run) second.
PipelineStart = Annotated[PipelineInput | UncheckedInput, Field(union_mode="left_to_right")]


class PipelineState(BaseModel):
    """The pipeline's progress, as its `state` query reports it."""

    status: PipelineStatus
    steps: list[str] = Field(description="One line per step done, in order.")
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    llm_calls: int = 0
    usage: Usage = Field(default_factory=Usage)


class PipelineResult(BaseModel):
    outcome: PipelineOutcome
    answer: str = Field(description="The reply drafted for the customer.")
    order_id: str | None
    refunded: float | None = Field(description="The amount refunded, if any.")
    steps: list[str]
    llm_calls: int
    approvals: int = Field(description="Decisions asked of a person.")
    usage: Usage
    model: str
