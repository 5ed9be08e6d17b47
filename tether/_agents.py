"""Agents: a name, instructions and tools, looked up by name in the worker."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tether._limits import DEFAULT_MAX_RESULT_BYTES, DEFAULT_MAX_TOTAL_TOKENS, result_bytes_limit
from tether._mcp import McpServer
from tether._policies import ContextPolicy, LlmPolicy
from tether._records import AgentSpec, OutputSpec
from tether._settings import ConfigurationError
from tether._tools import Tool

if TYPE_CHECKING:
    from tether._scripted_llm.steps import Responder


class UnknownAgentError(LookupError):
    """No agent of that name is registered; the message names those that are."""


@dataclass(frozen=True)
class Agent:
    """An agent definition. Build it at module level, outside any workflow.

    Args:
        name: Unique name; runs are started with it.
        instructions: The system prompt.
        tools: The tools the model may call.
        mcp: MCP servers whose tools the model may call too (see `McpServer`); each run
            lists them once, at its start, and keeps that list.
        model: The model to use; None takes the worker's default (TETHER_MODEL).
        max_turns: Model calls allowed per run before it stops with status max_turns.
        output_type: A pydantic model the final answer must validate against.
        native_json_schema: Request the output type with the provider's JSON-schema
            response format; False puts the schema in the prompt instead, for servers
            without it. The answer is validated either way.
        llm: Model calls: their reply cap and what a cut reply does, timeouts, retries,
            fallback models, output repairs and wire format (see `LlmPolicy`).
        max_tool_result_bytes: Tool results longer than this (UTF-8) are truncated with a
            note to the model, so one tool cannot blow the history; a tool's own
            `max_result_bytes` overrides it.
        approval_timeout: How long a call of a `needs_approval` tool waits for a human;
            then it counts as rejected and the model is told.
        max_total_tokens: Token budget of a run (a conversation counts across its
            continue-as-new runs); reaching it ends the run with status max_tokens.
            Default 1,000,000; None for no limit. A run's input may lower it (and
            `max_turns`, `deadline`), never raise it.
        deadline: The run ends with status deadline_exceeded this long after it started.
        models: The models a run's input may choose (besides `model` and the fallback
            models); None lets a run name any model its provider serves.
        approvers: Who may decide this agent's calls that wait for a person, by the
            `approver` a decision states; the run's `started_by` never may. None lets
            any client decide. The names are what clients claim: make them
            trustworthy with your deployment's authentication (see the README's
            Security section).
        continue_as_new_turns: A chat continues-as-new after this many model calls in
            one run (or sooner, when Temporal suggests it), keeping its history small.
        context: What the model is sent once the conversation outgrows a budget (older
            tool results elided, older turns summarized); None sends it everything,
            and a chat carries all of it into its next run.
    """

    name: str
    instructions: str
    tools: list[Tool] = field(default_factory=list)
    mcp: list[McpServer] = field(default_factory=list)
    model: str | None = None
    max_turns: int = 12
    output_type: type[BaseModel] | None = None
    native_json_schema: bool = True
    llm: LlmPolicy = field(default_factory=LlmPolicy)
    max_tool_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    approval_timeout: timedelta = timedelta(hours=24)
    max_total_tokens: int | None = DEFAULT_MAX_TOTAL_TOKENS
    deadline: timedelta | None = None
    continue_as_new_turns: int = 200
    context: ContextPolicy | None = None
    models: Sequence[str] | None = None
    approvers: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an agent needs a non-empty name")
        if self.max_turns < 1:
            raise ValueError(f"agent {self.name!r}: max_turns must be at least 1")
        if not 1 <= self.max_tool_result_bytes <= result_bytes_limit():
            raise ValueError(
                f"agent {self.name!r}: max_tool_result_bytes must be between 1 and "
                f"{result_bytes_limit():,} (a result must fit Temporal's 2 MiB payload limit; "
                "with TETHER_PAYLOAD_STORE set, 64 MiB)"
            )
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
        for option in ("models", "approvers"):
            value = getattr(self, option)
            if value is not None and (isinstance(value, str) or not all(value)):
                raise ValueError(f"agent {self.name!r}: {option} must be a list of names")
        servers = [s.name for s in self.mcp]
        if len(set(servers)) < len(servers):
            raise ValueError(f"agent {self.name!r}: two MCP servers share a name: {servers}")

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def mcp_server(self, name: str) -> McpServer | None:
        return next((s for s in self.mcp if s.name == name), None)

    def spec(self, default_model: str) -> AgentSpec:
        """The agent as a run records it: what the workflow decides with, and what the
        activities act on (tool schemas, the output schema, limits)."""
        output = None
        if self.output_type is not None:
            output = OutputSpec(
                name=self.output_type.__name__,
                json_schema=self.output_type.model_json_schema(),
                native=self.native_json_schema,
            )
        spec = AgentSpec(
            name=self.name,
            instructions=self.instructions,
            model=self.model or default_model,
            max_turns=self.max_turns,
            tools=[t.spec for t in self.tools],
            llm=self.llm,
            structured_output=self.output_type is not None,
            approval_timeout_seconds=self.approval_timeout.total_seconds(),
            max_total_tokens=self.max_total_tokens,
            models=list(self.models) if self.models is not None else None,
            approvers=list(self.approvers) if self.approvers is not None else None,
            deadline_seconds=self.deadline.total_seconds() if self.deadline else None,
            continue_as_new_turns=self.continue_as_new_turns,
            output=output,
            max_tool_result_bytes=self.max_tool_result_bytes,
            context=self.context,
        )
        return spec.model_copy(update={"digest": spec.surface_digest()})


class AgentRegistry:
    """The agents a worker serves, by name, and what else the worker runs for them.

    Args:
        agents: The agents; names must be unique, and every sub-agent a tool hands work
            to must be among them.
        workflows: Your own workflow classes (e.g. a deterministic pipeline with LLM
            steps) that `tether worker` registers beside `AgentWorkflow`.
        activities: Activities those workflows call.
        scripts: For the offline scripted model (`tether worker` with no OPENAI_*
            variables set, and `tether.testing.ScriptedLLM`): a responder per agent
            name that plays that agent's conversations without a real model.
    """

    def __init__(
        self,
        agents: Iterable[Agent],
        *,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        scripts: Mapping[str, Responder] | None = None,
    ) -> None:
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            if not isinstance(agent, Agent):
                raise TypeError(f"an AgentRegistry holds Agents, got {type(agent).__name__}")
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
        self.workflows = list(workflows)
        self.activities = list(activities)
        self.scripts: dict[str, Responder] = dict(scripts or {})
        unknown = sorted(set(self.scripts) - set(self._agents))
        if unknown:
            raise ValueError(f"scripts for agents that are not registered: {unknown}")

    @property
    def names(self) -> list[str]:
        return sorted(self._agents)

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())

    def __len__(self) -> int:
        return len(self._agents)

    def get(self, name: str) -> Agent:
        """The agent called `name`; `UnknownAgentError` names the ones served."""
        try:
            return self._agents[name]
        except KeyError:
            raise UnknownAgentError(
                f"no agent {name!r} here (this worker serves: {', '.join(self.names) or 'none'})"
            ) from None


class ModuleMissing(ConfigurationError):
    """The module an `--agents MODULE:ATTR` names is not importable from here."""


def as_registry(value: object, *, source: str = "agents") -> AgentRegistry:
    """An `AgentRegistry`, an `Agent`, or a list of `Agent`s, as a registry."""
    if isinstance(value, AgentRegistry):
        return value
    if isinstance(value, Agent):
        return AgentRegistry([value])
    if isinstance(value, list | tuple) and all(isinstance(a, Agent) for a in value):
        return AgentRegistry(value)
    raise ConfigurationError(
        f"{source} is a {type(value).__name__}; it must be an AgentRegistry, an Agent or "
        "a list of Agents"
    )


def load_registry(target: str) -> AgentRegistry:
    """The registry `MODULE:ATTR` names, imported with the working directory on the
    path (as uvicorn and celery do); `ConfigurationError` says what is wrong."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"--agents {target!r} must be MODULE:ATTR, e.g. myapp.agents:REGISTRY"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            raise ModuleMissing(
                f"cannot import {module_name!r}: no module named {e.name!r} (searched the "
                f"working directory {cwd} and the installed packages)"
            ) from None
        raise ConfigurationError(f"importing {module_name!r} failed: {_where(e)}") from None
    except Exception as e:
        raise ConfigurationError(f"importing {module_name!r} failed: {_where(e)}") from None
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}") from None
    return as_registry(value, source=target)


def _where(error: BaseException) -> str:
    """`ValueError: ... (myapp/agents.py:12)`: the error and the line that raised it."""
    frames = traceback.extract_tb(error.__traceback__)
    place = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{place}"
