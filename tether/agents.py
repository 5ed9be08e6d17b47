"""Agents: a name, instructions and tools, looked up by name in the worker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an agent needs a non-empty name")
        if self.max_turns < 1:
            raise ValueError(f"agent {self.name!r}: max_turns must be at least 1")
        if self.max_tool_result_bytes < 1:
            raise ValueError(f"agent {self.name!r}: max_tool_result_bytes must be positive")
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
        )


class AgentRegistry:
    """The agents a worker serves, by name."""

    def __init__(self, agents: Iterable[Agent]) -> None:
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            if agent.name in self._agents:
                raise ValueError(f"two agents are named {agent.name!r}")
            self._agents[agent.name] = agent

    @property
    def names(self) -> list[str]:
        return sorted(self._agents)

    def get(self, name: str) -> Agent:
        try:
            return self._agents[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise UnknownAgentError(f"unknown agent {name!r} (known agents: {known})") from None
