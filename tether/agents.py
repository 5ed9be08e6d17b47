"""Agents: a name, instructions and tools, looked up by name in the worker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import BaseModel

from tether.seam import AgentSpec, LlmPolicy
from tether.tools import DEFAULT_MAX_RESULT_BYTES, Tool


class UnknownAgentError(LookupError):
    pass


@dataclass(frozen=True)
class Agent:
    """An agent definition. Build it at module level, outside any workflow.

    Args:
        name: Unique name; runs are started with it.
        instructions: The system prompt.
        tools: The tools the model may call.
        model: The model to use; None takes the worker's default (TETHER_MODEL).
        max_turns: Model calls allowed per run before it stops with status max_turns.
        output_type: A pydantic model the final answer must validate against.
        native_json_schema: Request the output type with the provider's JSON-schema
            response format; False puts the schema in the prompt instead, for servers
            without it. The answer is validated either way.
        llm: Timeouts, retries, fallback models and output repairs of model calls.
        max_tool_result_bytes: Tool results longer than this (UTF-8) are truncated with a
            note to the model, so one tool cannot blow the history; a tool's own
            `max_result_bytes` overrides it.
        approval_timeout: How long a call of a `needs_approval` tool waits for a human;
            then it counts as rejected and the model is told.
        max_total_tokens: Token budget of a run (a conversation counts across its
            continue-as-new runs); reaching it ends the run with status max_tokens.
        deadline: The run ends with status deadline_exceeded this long after it started.
        continue_as_new_turns: A chat continues-as-new after this many model calls in
            one run (or sooner, when Temporal suggests it), keeping its history small.
    """

    name: str
    instructions: str
    tools: list[Tool] = field(default_factory=list)
    model: str | None = None
    max_turns: int = 12
    output_type: type[BaseModel] | None = None
    native_json_schema: bool = True
    llm: LlmPolicy = field(default_factory=LlmPolicy)
    max_tool_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    approval_timeout: timedelta = timedelta(hours=24)
    max_total_tokens: int | None = None
    deadline: timedelta | None = None
    continue_as_new_turns: int = 200

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an agent needs a non-empty name")
        if self.max_turns < 1:
            raise ValueError(f"agent {self.name!r}: max_turns must be at least 1")
        if self.max_tool_result_bytes < 1:
            raise ValueError(f"agent {self.name!r}: max_tool_result_bytes must be positive")
        for option in ("approval_timeout", "deadline"):
            value = getattr(self, option)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"agent {self.name!r}: {option} must be positive")
        if self.max_total_tokens is not None and self.max_total_tokens < 1:
            raise ValueError(f"agent {self.name!r}: max_total_tokens must be positive")
        if self.continue_as_new_turns < 1:
            raise ValueError(f"agent {self.name!r}: continue_as_new_turns must be at least 1")
        names = [t.name for t in self.tools]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"agent {self.name!r} has duplicate tool names: {sorted(duplicates)}")

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def spec(self, default_model: str) -> AgentSpec:
        return AgentSpec(
            name=self.name,
            instructions=self.instructions,
            model=self.model or default_model,
            max_turns=self.max_turns,
            tools=[t.spec for t in self.tools],
            llm=self.llm,
            structured_output=self.output_type is not None,
            approval_timeout_seconds=self.approval_timeout.total_seconds(),
            max_total_tokens=self.max_total_tokens,
            deadline_seconds=self.deadline.total_seconds() if self.deadline else None,
            continue_as_new_turns=self.continue_as_new_turns,
        )


class AgentRegistry:
    """The agents a worker serves, by name."""

    def __init__(self, agents: Iterable[Agent]) -> None:
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            if agent.name in self._agents:
                raise ValueError(f"two agents are named {agent.name!r}")
            self._agents[agent.name] = agent
        for agent in self._agents.values():
            for t in agent.tools:
                if t.spec.agent is not None and t.spec.agent not in self._agents:
                    raise ValueError(
                        f"agent {agent.name!r}: tool {t.name!r} hands work to agent "
                        f"{t.spec.agent!r}, which is not registered"
                    )

    @property
    def names(self) -> list[str]:
        return sorted(self._agents)

    def get(self, name: str) -> Agent:
        try:
            return self._agents[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise UnknownAgentError(f"unknown agent {name!r} (known agents: {known})") from None
