"""RefundPipelineWorkflow: the support desk's refund process as a deterministic workflow.

The agent decides every step with a model; here the model is asked only where judgement
is needed — (1) read the ticket: is it a refund request, for which order, and why
(structured output), and (2) draft the reply. Everything else is code: look the order
up, apply the refund policy, ask a person above a threshold, refund, email. It uses the
agent's own LLM activity, tools, idempotency keys and `decide` update, so
`starter.py approve/reject` work on a pipeline run as on an agent run.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from tether.messages import Message, ToolCall, Usage
    from tether.seam import (
        AgentSpec,
        LlmReply,
        LlmRequest,
        ToolOutcome,
        ToolSpec,
    )
    from tools.refund_policy import Order, Refund, policy_refusal
    from workflows.pipeline_seam import (
        TOOLS_AGENT,
        TRIAGE_AGENT,
        WRITER_AGENT,
        PipelineInput,
        PipelineOutcome,
        PipelineResult,
        PipelineStart,
        PipelineState,
        PipelineStatus,
        Triage,
    )

from workflows.approvals import Approvals, DecidesApprovals
from workflows.inputs import invalid_input
from workflows.llm_calls import describe_agent, execute_llm, repair_request
from workflows.tool_calls import execute_tool, tool_request

# Idempotency keys are `workflow id:turn:call id`, as for the agent; a pipeline has one
# "turn", and its call ids name the tool.
TURN = 1


@dataclass(frozen=True)
class Done:
    """How the process ended, and the facts the reply must tell the customer."""

    outcome: PipelineOutcome
    facts: str
    order: Order | None = None
    refund: Refund | None = None


@workflow.defn(name="RefundPipelineWorkflow")
class RefundPipelineWorkflow(DecidesApprovals):
    @workflow.init
    def __init__(self, params: PipelineStart) -> None:
        self._status: PipelineStatus = "running"
        self._steps: list[str] = []
        self._llm_calls = 0
        self._usage = Usage()
        self._asked = 0
        self._approvals = Approvals(on_change=self._approvals_changed)

    @workflow.run
    async def run(self, params: PipelineStart) -> PipelineResult:
        if not isinstance(params, PipelineInput):
            raise invalid_input(PipelineInput, params)
        triage_spec, writer_spec, tools = await asyncio.gather(
            describe_agent(TRIAGE_AGENT), describe_agent(WRITER_AGENT), describe_agent(TOOLS_AGENT)
        )
        model = params.model or triage_spec.model
        triage = await self._triage(triage_spec, model, params.ticket)
        done = await self._process(tools, triage, params)
        order = done.order
        answer = await self._draft(writer_spec, model, params.ticket, order, done.facts)
        if done.refund is not None and order is not None:
            await self._tool(
                tools,
                "send_email",
                {
                    "to": order.customer_email,
                    "subject": f"Your refund for order {order.order_id}",
                    "body": answer,
                },
            )
            self._step(f"send_email: confirmation to {order.customer_email}")
        self._status = done.outcome
        self._publish()
        return PipelineResult(
            outcome=done.outcome,
            answer=answer,
            order_id=order.order_id if order else triage.order_id,
            refunded=done.refund.amount if done.refund else None,
            steps=self._steps,
            llm_calls=self._llm_calls,
            approvals=self._asked,
            usage=self._usage,
            model=model,
        )

    async def _process(self, tools: AgentSpec, triage: Triage, params: PipelineInput) -> Done:
        """The refund process in code, up to the reply."""
        if triage.order_id is None:
            return Done("missing_order", "The message names no order number.")
        looked_up = await self._tool(tools, "lookup_order", {"order_id": triage.order_id})
        if looked_up.error:
            self._step(f"lookup_order: {looked_up.content}")
            return Done("missing_order", f"We could not find order {triage.order_id}.")
        order = Order.model_validate_json(looked_up.content)
        self._step(
            f"lookup_order: {order.order_id} · {order.item} · ${order.amount:.2f} · {order.status}"
        )
        if not triage.wants_refund:
            return Done(
                "refused", f"Order {order.order_id} ({order.item}) is {order.status}.", order
            )
        refusal = policy_refusal(order)
        self._step(f"policy: {refusal or 'allows a refund'}")
        if refusal is not None:
            return Done("refused", f"We cannot refund: {refusal}.", order)
        call = _call("issue_refund", {"order_id": order.order_id, "reason": triage.reason})
        if order.amount > params.approval_above:
            self._asked += 1
            self._step(f"approval: asked (${order.amount:.2f} > ${params.approval_above:.2f})")
            decided = await self._approvals.wait(
                call,
                turn=TURN,
                expires_after=timedelta(seconds=params.approval_timeout_seconds),
            )
            if not isinstance(decided, ToolCall):
                self._step("approval: rejected")
                why = "a person reviewed the request and declined it"
                return Done("rejected", f"We cannot refund order {order.order_id}: {why}.", order)
            self._step("approval: granted")
            call = decided
        refunded = await execute_tool(_tool_spec(tools, call.name), tool_request(tools, call, TURN))
        self._step(f"issue_refund: {refunded.content}")
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

    async def _triage(self, spec: AgentSpec, model: str, ticket: str) -> Triage:
        messages = [Message.system(spec.instructions), Message.user(ticket)]
        for _ in range(spec.llm.output_repairs + 1):
            reply = await self._llm(spec, model, messages, "triage")
            if reply.output_error is None and reply.output is not None:
                triage = Triage.model_validate(reply.output)
                kind = "refund request" if triage.wants_refund else "not a refund request"
                self._step(f"triage: {kind} · order {triage.order_id} · {triage.reason}")
                return triage
            messages += [reply.message, repair_request(reply.output_error or "no answer")]
        raise ApplicationError(
            "the triage step's answer was still invalid after repairs",
            type="InvalidOutput",
            non_retryable=True,
        )

    async def _draft(
        self, spec: AgentSpec, model: str, ticket: str, order: Order | None, facts: str
    ) -> str:
        brief = {
            "ticket": ticket,
            "customer_name": order.customer_name if order else None,
            "facts": facts,
        }
        messages = [Message.system(spec.instructions), Message.user(json.dumps(brief))]
        reply = await self._llm(spec, model, messages, "draft reply")
        self._step("draft reply")
        return reply.message.content or facts

    async def _llm(
        self, spec: AgentSpec, model: str, messages: list[Message], step: str
    ) -> LlmReply:
        self._llm_calls += 1
        request = LlmRequest(agent=spec.name, model=model, messages=messages, turn=self._llm_calls)
        reply = await execute_llm(spec, request, summary=f"llm {model} · {step}")
        self._usage += reply.usage
        return reply

    async def _tool(self, tools: AgentSpec, name: str, args: dict[str, Any]) -> ToolOutcome:
        call = _call(name, args)
        return await execute_tool(_tool_spec(tools, name), tool_request(tools, call, TURN))

    @workflow.query
    def state(self) -> PipelineState:
        return PipelineState(
            status=self._status,
            steps=self._steps,
            pending_approvals=self._approvals.pending,
            llm_calls=self._llm_calls,
            usage=self._usage,
        )

    def _approvals_changed(self) -> None:
        self._status = "awaiting_approval" if self._approvals.pending else "running"
        self._publish()

    def _step(self, line: str) -> None:
        self._steps.append(line)
        self._publish()

    def _publish(self) -> None:
        steps = "\n".join(f"- {s}" for s in self._steps)
        workflow.set_current_details(
            f"**refund pipeline** · `{self._status}`\n\n"
            f"{self._llm_calls} LLM calls · {self._usage.total_tokens:,} tokens\n\n{steps}"
        )


def _call(name: str, args: dict[str, Any]) -> ToolCall:
    """A call of the tool `name`; its id is the tool's name (each runs once per ticket)."""
    return ToolCall(id=name, name=name, arguments=json.dumps(args))


def _tool_spec(tools: AgentSpec, name: str) -> ToolSpec:
    spec = tools.tool(name)
    if spec is None:
        raise ApplicationError(f"agent {tools.name!r} has no tool {name!r}", non_retryable=True)
    return spec
