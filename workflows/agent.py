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
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from tether.messages import Message, ToolCall, Usage
    from tether.seam import (
        DESCRIBE_AGENT_ACTIVITY,
        LLM_ACTIVITY,
        AgentInput,
        AgentResult,
        AgentSpec,
        CallRecord,
        LlmReply,
        LlmRequest,
        ModelSwitch,
        RunState,
        RunStatus,
        StartInput,
        ToolOutcome,
        UncheckedInput,
    )
    from tether.validation import describe
    from tether.visibility import (
        AGENT_NAME_KEY,
        AGENT_STATUS_KEY,
        AGENT_TOKENS_KEY,
        AGENT_TURNS_KEY,
        current_details,
    )

from workflows.tool_calls import run_tool_call


@workflow.defn(name="AgentWorkflow")
class AgentWorkflow:
    def __init__(self) -> None:
        self._agent = ""
        self._model: str | None = None
        self._status: RunStatus = "running"
        self._error: str | None = None
        self._turn = 0
        self._usage = Usage()
        self._calls: list[CallRecord] = []
        self._switches: list[ModelSwitch] = []
        self._messages: list[Message] = []
        self._max_turns = 0
        self._waiting_for: str | None = None
        self._published: tuple[object, ...] | None = None
        self._spec_searchable = False

    @workflow.run
    async def run(self, params: StartInput) -> AgentResult:
        if not isinstance(params, AgentInput):
            raise _invalid_input(params)
        self._agent = params.agent
        try:
            return await self._loop(params)
        except asyncio.CancelledError:
            self._set_status("cancelled")
            raise

    async def _loop(self, params: AgentInput) -> AgentResult:
        spec = await workflow.execute_local_activity(
            DESCRIBE_AGENT_ACTIVITY,
            params.agent,
            result_type=AgentSpec,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        self._spec_searchable = spec.searchable
        self._model = params.model or spec.model
        self._max_turns = max_turns = params.max_turns or spec.max_turns
        repairs_left = spec.llm.output_repairs
        self._messages = [Message.system(spec.instructions), Message.user(params.prompt)]
        self._set_status("running")

        while self._turn < max_turns:
            self._turn += 1
            reply = await self._call_llm(spec)
            self._messages.append(reply.message)
            calls = reply.message.tool_calls
            workflow.logger.info(
                "turn finished", extra={"turn": self._turn, "tool_calls": len(calls)}
            )
            if calls:
                self._waiting_for = "tools: " + ", ".join(c.name for c in calls)
                self._publish()
                outcomes = await asyncio.gather(*(self._run_tool(spec, call) for call in calls))
                for call, outcome in zip(calls, outcomes, strict=True):
                    self._messages.append(Message.tool(call.id, outcome.content))
                continue
            if reply.output_error is None:
                return self._finish("completed", reply.message.content or "", reply.output)
            if repairs_left == 0:
                workflow.logger.info("structured output still invalid after repairs")
                return self._finish("invalid_output", reply.message.content)
            repairs_left -= 1
            self._messages.append(
                Message.user(
                    f"Error: {reply.output_error}. Reply again with only a JSON object "
                    "that matches the schema."
                )
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
            cost_usd=self._cost(),
            messages=len(self._messages),
            model_switches=self._switches,
            error=self._error,
        )

    @workflow.query
    def transcript(self) -> list[Message]:
        return self._messages

    async def _call_llm(self, spec: AgentSpec) -> LlmReply:
        """One model call, moving down the fallback list when a model is unavailable."""
        fallbacks = [m for m in spec.llm.fallback_models if m != self._model]
        while True:
            model = self._model or spec.model
            self._waiting_for = f"a reply from `{model}`"
            self._publish()
            try:
                reply: LlmReply = await workflow.execute_activity(
                    LLM_ACTIVITY,
                    LlmRequest(
                        agent=self._agent, model=model, messages=self._messages, turn=self._turn
                    ),
                    result_type=LlmReply,
                    start_to_close_timeout=timedelta(seconds=spec.llm.timeout_seconds),
                    heartbeat_timeout=timedelta(seconds=spec.llm.heartbeat_timeout_seconds),
                    retry_policy=spec.llm.retry.to_policy(),
                    summary=f"llm {model} · turn {self._turn}",
                )
            except ActivityError as e:
                reason = _unavailable(e)
                if reason is None or not fallbacks:
                    raise self._fail(e) from e
                self._switch(model, fallbacks.pop(0), reason)
                continue
            self._usage += reply.usage
            self._calls.append(
                CallRecord(turn=self._turn, model=model, usage=reply.usage, cost_usd=reply.cost_usd)
            )
            self._waiting_for = None
            self._publish()
            return reply

    def _switch(self, from_model: str, to_model: str, reason: str) -> None:
        switch = ModelSwitch(
            turn=self._turn, from_model=from_model, to_model=to_model, reason=reason
        )
        self._switches.append(switch)
        self._model = to_model
        workflow.logger.warning("falling back to another model", extra=switch.model_dump())
        # The decision goes into history (and the web UI's memo) as its own event.
        workflow.upsert_memo(
            {"model": to_model, "model_switches": [s.model_dump() for s in self._switches]}
        )

    def _fail(self, error: ActivityError) -> ApplicationError:
        cause = error.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, FailureError) else error.message
        self._error = f"{kind}: {message}" if kind else message
        self._set_status("failed")
        return ApplicationError(message, type=kind or "LlmCallFailed", non_retryable=True)

    async def _run_tool(self, spec: AgentSpec, call: ToolCall) -> ToolOutcome:
        return await run_tool_call(spec, call, turn=self._turn)

    def _cost(self) -> float | None:
        costs = [c.cost_usd for c in self._calls if c.cost_usd is not None]
        return round(sum(costs), 8) if costs else None

    def _set_status(self, status: RunStatus) -> None:
        self._status = status
        if status != "running":
            self._waiting_for = None
        self._publish()

    def _publish(self) -> None:
        """Keep the web UI's view of the run current: details always, search attributes
        only when they change (each upsert is a history event)."""
        state = self.state()
        workflow.set_current_details(current_details(state, self._max_turns, self._waiting_for))
        searchable = (state.status, state.turn, state.usage.total_tokens)
        if searchable == self._published:
            return
        self._published = searchable
        if not self._spec_searchable:
            return
        workflow.upsert_search_attributes(
            [
                AGENT_NAME_KEY.value_set(self._agent),
                AGENT_STATUS_KEY.value_set(state.status),
                AGENT_TURNS_KEY.value_set(state.turn),
                AGENT_TOKENS_KEY.value_set(state.usage.total_tokens),
            ]
        )

    def _finish(
        self, status: RunStatus, answer: str | None, output: dict[str, object] | None = None
    ) -> AgentResult:
        self._set_status(status)
        return AgentResult(
            status=status,
            answer=answer,
            output=output,
            turns=self._turn,
            usage=self._usage,
            cost_usd=self._cost(),
            model=self._model or "",
            calls=self._calls,
            model_switches=self._switches,
        )


def _invalid_input(params: UncheckedInput) -> ApplicationError:
    try:
        AgentInput.model_validate(params.model_dump())
    except ValidationError as e:
        problem = f"invalid input: {describe(e, whole='input')}"
    else:
        problem = "invalid input"
    return ApplicationError(problem, type="InvalidInput", non_retryable=True)


def _unavailable(error: ActivityError) -> str | None:
    """Why a model counts as unavailable (so a fallback may take over), or None."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "ModelNotFound":
        return "model not found"
    if error.retry_state in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT):
        detail = cause.message if isinstance(cause, FailureError) else "no detail"
        return f"retries exhausted ({detail})"
    return None
