"""FloorWorkflow: the smallest hand-written Temporal workflow for the bench agent.

One plain activity per model call and per tool call, the conversation sent in full to
each model call (the model needs it), nothing else in history. That is the floor any
durable agent loop pays. `FloorOptions` adds Tether's extras one at a time, so the
benchmark can price each of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from bench.loop import Message, agent_loop, answer
    from tether._records import AgentSpec

FLOOR_LLM_ACTIVITY = "bench.llm"
FLOOR_TOOL_ACTIVITY = "bench.tool"
FLOOR_SPEC_ACTIVITY = "bench.spec"
TIMEOUT = timedelta(seconds=60)
RETRY = RetryPolicy(maximum_attempts=5)
# Registered on the dev server by the benchmark (Tether's names, so the cost is the same).
TURNS_KEY = SearchAttributeKey.for_int("AgentTurns")
STATUS_KEY = SearchAttributeKey.for_keyword("AgentStatus")


@dataclass
class FloorOptions:
    """Tether's extras, each off in the floor itself."""

    local_tools: list[str] = field(default_factory=list)
    """Tools run as local activities (Tether's `fast` tools)."""
    local_llm: bool = False
    """Model calls as local activities too."""
    spec: bool = False
    """Resolve the agent's spec by a local activity first, recording it in history."""
    summaries: bool = False
    """A user-metadata summary on each activity."""
    details: bool = False
    """Keep the run's current details up to date at each step."""
    upserts: bool = False
    """Upsert turn and status search attributes before and after each model call."""


@dataclass
class FloorInput:
    agent: str
    instructions: str
    prompt: str
    max_turns: int
    options: FloorOptions = field(default_factory=FloorOptions)


@dataclass
class ToolRun:
    name: str
    arguments: str
    key: str


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    @workflow.run
    async def run(self, params: FloorInput) -> str:
        self._options = options = params.options
        if options.spec:
            await workflow.execute_local_activity(
                FLOOR_SPEC_ACTIVITY,
                params.agent,
                result_type=AgentSpec,
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
        messages = await agent_loop(
            params.instructions, params.prompt, params.max_turns, self._llm, self._tool
        )
        self._publish(len(messages), "completed")
        return answer(messages)

    async def _llm(self, messages: list[Message], turn: int) -> Message:
        self._publish(turn, "running")
        summary = f"llm · turn {turn}" if self._options.summaries else None
        execute = (
            workflow.execute_local_activity
            if self._options.local_llm
            else workflow.execute_activity
        )
        reply: Message = await execute(
            FLOOR_LLM_ACTIVITY,
            messages,
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
            summary=summary,
        )
        self._publish(turn, "replied")
        return reply

    async def _tool(self, call: Message, turn: int) -> str:
        function = call["function"]
        run = ToolRun(
            name=function["name"],
            arguments=function["arguments"],
            key=f"{workflow.info().workflow_id}:{turn}:{call['id']}",
        )
        summary = f"tool {run.name}" if self._options.summaries else None
        execute = (
            workflow.execute_local_activity
            if run.name in self._options.local_tools
            else workflow.execute_activity
        )
        result: str = await execute(
            FLOOR_TOOL_ACTIVITY,
            run,
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
            summary=summary,
        )
        return result

    def _publish(self, turn: int, status: str) -> None:
        if self._options.details:
            workflow.set_current_details(f"**bench** · `{status}`\n\nturn {turn}")
        if self._options.upserts:
            workflow.upsert_search_attributes(
                [TURNS_KEY.value_set(turn), STATUS_KEY.value_set(status)]
            )
