"""RefundPipelineWorkflow: the support desk's refund process as a deterministic workflow.

The agent decides every step with a model; here the model is asked only where judgement
is needed — (1) read the ticket: is it a refund request, for which order, and why
(structured output), and (2) draft the reply. Everything else is code: look the order
up, apply the refund policy, have the refund approved (the `issue_refund` tool's
approval policy decides with the order's amount: by itself below $50, a person above
$500, a judge model in between), refund, email. Written on
`tether.Pipeline`, it uses the agent's own LLM activity, tools, idempotency keys and
`decide` update, so `tether approve/reject/status/watch` work on it as on an agent run.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from tether import Message
from tether.workflow import AgentSpec, Pipeline, ToolCall, ToolOutcome, tool_call

with workflow.unsafe.imports_passed_through():
    from activities.refund_policy import Order, Refund, policy_refusal
    from workflows.refund_pipeline_types import (
        LEGACY_APPROVAL_ABOVE,
        TOOLS_AGENT,
        TRIAGE_AGENT,
        WRITER_AGENT,
        PipelineOutcome,
        RefundResult,
        RefundTicket,
        Triage,
    )


@dataclass(frozen=True)
class Done:
    """How the process ended, and the facts the reply must tell the customer."""

    outcome: PipelineOutcome
    facts: str
    order: Order | None = None
    refund: Refund | None = None


@workflow.defn(name="RefundPipelineWorkflow")
class RefundPipelineWorkflow(Pipeline):
    @workflow.init
    def __init__(self, *args: Any) -> None:
        super().__init__()
        self._asked = 0

    @workflow.run
    async def run(self, *args: Any) -> RefundResult:
        """Triage, look up, apply the policy, ask a person above the threshold, refund,
        draft the reply and email it."""
        ticket = self.read_input(RefundTicket, args)
        triage_spec, writer_spec, tools = await asyncio.gather(
            self.agent(TRIAGE_AGENT), self.agent(WRITER_AGENT), self.agent(TOOLS_AGENT)
        )
        model = ticket.model or triage_spec.model
        triage = await self._triage(triage_spec, model, ticket.text)
        done = await self._process(tools, triage, ticket)
        order = done.order
        answer = await self._draft(writer_spec, model, ticket.text, order, done.facts)
        if done.refund is not None and order is not None:
            await self.use_tool(
                tools,
                "send_email",
                {
                    "to": order.customer_email,
                    "subject": f"Your refund for order {order.order_id}",
                    "body": answer,
                },
            )
            self.step(f"send_email: confirmation to {order.customer_email}")
        self.finish(done.outcome)
        return RefundResult(
            outcome=done.outcome,
            answer=answer,
            order_id=order.order_id if order else triage.order_id,
            refunded=done.refund.amount if done.refund else None,
            steps=self.state().steps,
            llm_calls=self.llm_calls,
            approvals=self._asked,
            usage=self.usage,
            model=model,
        )

    async def _process(self, tools: AgentSpec, triage: Triage, ticket: RefundTicket) -> Done:
        """The refund process in code, up to the reply."""
        if triage.order_id is None:
            return Done("missing_order", "The message names no order number.")
        looked_up = await self.use_tool(tools, "lookup_order", {"order_id": triage.order_id})
        if looked_up.error:
            self.step(f"lookup_order: {looked_up.content}")
            return Done("missing_order", f"We could not find order {triage.order_id}.")
        order = Order.model_validate_json(looked_up.content)
        self.step(
            f"lookup_order: {order.order_id} · {order.item} · ${order.amount:.2f} · {order.status}"
        )
        if not triage.wants_refund:
            return Done(
                "refused", f"Order {order.order_id} ({order.item}) is {order.status}.", order
            )
        refusal = policy_refusal(order)
        self.step(f"policy: {refusal or 'allows a refund'}")
        if refusal is not None:
            return Done("refused", f"We cannot refund: {refusal}.", order)
        call = tool_call("issue_refund", {"order_id": order.order_id, "reason": triage.reason})
        refund_tool = tools.tool(call.name)
        if refund_tool is not None and tools.policy_for(refund_tool) is not None:
            decided = await self._approved(tools, call, order, ticket)
        elif order.amount > LEGACY_APPROVAL_ABOVE:  # a run started before the policy
            self._asked += 1
            self.step(f"approval: asked (${order.amount:.2f} > ${LEGACY_APPROVAL_ABOVE:.2f})")
            decided = await self.approval(
                call,
                expires_after=timedelta(seconds=ticket.approval_timeout_seconds),
                agent=tools,
            )
            self.step(f"approval: {'granted' if isinstance(decided, ToolCall) else 'rejected'}")
        else:
            decided = call
        if not isinstance(decided, ToolCall):
            why = "a person reviewed the request and declined it"
            return Done("rejected", f"We cannot refund order {order.order_id}: {why}.", order)
        call = decided
        refunded = await self.use_tool(tools, call.name, call)
        self.step(f"issue_refund: {refunded.content}")
        if refunded.error:  # the tool's own checks, e.g. a refund made meanwhile
            return Done("refused", f"We cannot refund: {refunded.content}", order)
        refund = Refund.model_validate_json(refunded.content)
        return Done(
            "refunded",
            f"We refunded ${refund.amount:.2f} for the {order.item} (order {order.order_id}); "
            "it reaches the original payment method in 3-5 business days.",
            order,
            refund,
        )

    async def _approved(
        self, tools: AgentSpec, call: ToolCall, order: Order, ticket: RefundTicket
    ) -> ToolCall | ToolOutcome:
        """The refund as the tool's approval policy decides it, with the order's amount
        (looked up, so recorded) as the `amount` its rules test."""
        decided = await self.approval(
            call,
            expires_after=timedelta(seconds=ticket.approval_timeout_seconds),
            agent=tools,
            facts={"amount": order.amount},
        )
        taken = self.state().decisions[-1]
        if taken.policy is None or not taken.policy.decided:
            self._asked += 1
        verdict = "granted" if taken.approved else "rejected"
        self.step(f"approval: {verdict} by {taken.decided_by} (${order.amount:.2f})")
        return decided

    async def _triage(self, spec: AgentSpec, model: str, ticket: str) -> Triage:
        messages = [Message.system(spec.instructions), Message.user(ticket)]
        triage = await self.ask_for(Triage, spec, messages, step="triage", model=model)
        kind = "refund request" if triage.wants_refund else "not a refund request"
        self.step(f"triage: {kind} · order {triage.order_id} · {triage.reason}")
        return triage

    async def _draft(
        self, spec: AgentSpec, model: str, ticket: str, order: Order | None, facts: str
    ) -> str:
        brief = {
            "ticket": ticket,
            "customer_name": order.customer_name if order else None,
            "facts": facts,
        }
        messages = [Message.system(spec.instructions), Message.user(json.dumps(brief))]
        reply = await self.ask(spec, messages, step="draft reply", model=model)
        self.step("draft reply")
        return reply.message.content or facts
