"""OrderRefundFlow: the order desk's refund as a pipeline, for the tests of pipelines
(workflow code: Temporal re-imports this module in its sandbox, so it does no I/O).

A model reads the request (structured output); code looks the order up, asks a person
above APPROVAL_ABOVE, and refunds, through the order desk's own tools.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow

from tether import Message
from tether.workflow import AgentSpec, Pipeline, PipelineInput, ToolCall, tool_call

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field

TRIAGE_AGENT = "order-triage"
DESK_AGENT = "order-desk"
# Refunds above this wait for a person (the desk's rule, so it is code, not input).
APPROVAL_ABOVE = 100.0


class Triage(BaseModel):
    """What the triage step reads from a request."""

    wants_refund: bool = Field(description="The customer asks for their money back.")
    order_id: str | None = Field(description="The order id it names, like A-1001.")
    reason: str = Field(description="The customer's reason, in a few words.")


class Order(BaseModel):
    order_id: str
    item: str
    amount: float
    status: str
    refunded: bool
    customer_name: str
    customer_email: str


class Refund(BaseModel):
    refund_id: int
    order_id: str
    amount: float
    reason: str


class FlowResult(BaseModel):
    outcome: Literal["refunded", "refused", "rejected", "missing_order"]
    order_id: str | None
    refunded: float | None = None


@workflow.defn(name="OrderRefundFlow")
class OrderRefundFlow(Pipeline):
    @workflow.run
    async def run(self, *args: Any) -> FlowResult:
        """Read the request, then refund in code (asking a person above the threshold)."""
        request = self.read_input(PipelineInput, args)
        reader, desk = await self.agent(TRIAGE_AGENT), await self.agent(DESK_AGENT)
        asked = [Message.system(reader.instructions), Message.user(request.text)]
        triage = await self.ask_for(Triage, reader, asked, step="triage")
        result = await self._refund(
            desk, triage, timedelta(seconds=request.approval_timeout_seconds)
        )
        self.finish(result.outcome)
        return result

    async def _refund(self, desk: AgentSpec, triage: Triage, wait: timedelta) -> FlowResult:
        if triage.order_id is None:
            return FlowResult(outcome="missing_order", order_id=None)
        found = await self.use_tool(desk, "lookup_order", {"order_id": triage.order_id})
        if found.error:
            return FlowResult(outcome="missing_order", order_id=triage.order_id)
        order = Order.model_validate_json(found.content)
        self.step(f"lookup_order: {order.order_id} · ${order.amount:.2f} · {order.status}")
        if not triage.wants_refund:
            return FlowResult(outcome="refused", order_id=order.order_id)
        call = tool_call("issue_refund", {"order_id": order.order_id, "reason": triage.reason})
        if order.amount > APPROVAL_ABOVE:
            decided = await self.approval(call, expires_after=wait, agent=desk)
            if not isinstance(decided, ToolCall):
                return FlowResult(outcome="rejected", order_id=order.order_id)
            call = decided
        refunded = await self.use_tool(desk, call.name, call)
        if refunded.error:
            return FlowResult(outcome="refused", order_id=order.order_id)
        refund = Refund.model_validate_json(refunded.content)
        self.step(f"issue_refund: ${refund.amount:.2f}")
        return FlowResult(outcome="refunded", order_id=order.order_id, refunded=refund.amount)
