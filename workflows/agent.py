"""AgentWorkflow: the durable agent loop.

Each turn sends the conversation to the LLM activity, runs every tool call the model
asked for as its own activity (concurrently, results kept in the model's order), and
stops at a final answer or at the turn limit. The workflow decides; activities act.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from tether.messages import Message, ToolCall, Usage
    from tether.seam import (
        DESCRIBE_AGENT_ACTIVITY,
        LLM_ACTIVITY,
        AgentInput,
        AgentResult,
        AgentSpec,
        LlmReply,
        LlmRequest,
        RunState,
        RunStatus,
        ToolOutcome,
    )

from workflows.tool_calls import run_tool_call

LLM_TIMEOUT = timedelta(seconds=120)
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
)


@workflow.defn(name="AgentWorkflow")
class AgentWorkflow:
    def __init__(self) -> None:
        self._agent = ""
        self._model: str | None = None
        self._status: RunStatus = "running"
        self._turn = 0
        self._usage = Usage()
        self._messages: list[Message] = []

    @workflow.run
    async def run(self, params: AgentInput) -> AgentResult:
        self._agent = params.agent
        spec = await workflow.execute_local_activity(
            DESCRIBE_AGENT_ACTIVITY,
            params.agent,
            result_type=AgentSpec,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        self._model = model = params.model or spec.model
        max_turns = params.max_turns or spec.max_turns
        self._messages = [Message.system(spec.instructions), Message.user(params.prompt)]

        while self._turn < max_turns:
            self._turn += 1
            reply = await self._call_llm(model)
            self._usage += reply.usage
            self._messages.append(reply.message)
            calls = reply.message.tool_calls
            if not calls:
                return self._finish("completed", reply.message.content or "")
            outcomes = await asyncio.gather(*(self._run_tool(spec, call) for call in calls))
            self._messages.extend(
                Message.tool(call.id, outcome.content)
                for call, outcome in zip(calls, outcomes, strict=True)
            )
        workflow.logger.info("turn limit reached", extra={"max_turns": max_turns})
        return self._finish("max_turns", None)

    @workflow.query
    def state(self) -> RunState:
        return RunState(
            status=self._status,
            agent=self._agent,
            model=self._model,
            turn=self._turn,
            usage=self._usage,
            messages=len(self._messages),
        )

    @workflow.query
    def transcript(self) -> list[Message]:
        return self._messages

    async def _call_llm(self, model: str) -> LlmReply:
        reply: LlmReply = await workflow.execute_activity(
            LLM_ACTIVITY,
            LlmRequest(agent=self._agent, model=model, messages=self._messages, turn=self._turn),
            result_type=LlmReply,
            start_to_close_timeout=LLM_TIMEOUT,
            retry_policy=LLM_RETRY,
            summary=f"llm {model} · turn {self._turn}",
        )
        return reply

    async def _run_tool(self, spec: AgentSpec, call: ToolCall) -> ToolOutcome:
        return await run_tool_call(spec, call, turn=self._turn)

    def _finish(self, status: RunStatus, answer: str | None) -> AgentResult:
        self._status = status
        return AgentResult(
            status=status,
            answer=answer,
            turns=self._turn,
            usage=self._usage,
            model=self._model or "",
        )
