"""Agents: a name, instructions and tools, looked up by name in the worker."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tether._approval_policy import ApprovalCheck, ApprovalPolicy
from tether._deprecation import deprecated
from tether._limits import DEFAULT_MAX_RESULT_BYTES, DEFAULT_MAX_TOTAL_TOKENS, result_bytes_limit
from tether._mcp import McpServer
from tether._policies import Budgets, ContextPolicy, LlmPolicy
from tether._records import AgentSpec, OutputSpec, llm_record
from tether._settings import ConfigurationError
from tether._tools import Tool
from tether._trust import ApproverKeys

if TYPE_CHECKING:
    from tether._scripted_llm.steps import Responder


class UnknownAgentError(LookupError):
    """No agent of that name is registered; the message names those that are."""


# An agent's budgets where it leaves them None (see `Budgets`).
DEFAULT_MAX_TURNS = 12


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
        budgets: What a run may spend: model calls per message, tokens, time and money
            (see `Budgets`; left None, 12 calls and 1,000,000 tokens). A run may lower
            them, never raise them.
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
        models: The models a run's input may choose besides `model` and the fallback
            models (None: only those). `["*"]` lets a run name any model its provider
            serves, and spend on it: only where every starter may.
        approvers: Who may decide this agent's calls that wait for a person, by the
            `approver` a decision is signed for; the run's `started_by` never may. None:
            anyone a trusted key may sign for.
        approver_keys: The keys whose signed decisions its runs accept, and the names
            each may sign for; None takes the worker's (TETHER_APPROVER_KEYS), and with
            neither every decision is refused. `ApproverKeys(unsigned=True)` accepts
            unsigned decisions (the docs' Security page says what that gives up).
        approval_policy: How calls of its tools that need approval are decided: rules
            that allow, deny, ask a person or ask a judge model (see
            `tether.approvals.ApprovalPolicy`); a tool's own policy comes first. None: a
            person decides each. Runs keep the policy they started with.
        approval_checks: The Python predicates its policies' rules ask by name
            (`check(NAME)`), each run in an activity when a rule needs it (its answer
            is recorded); every name a policy asks must be here.
        continue_as_new_turns: A chat continues-as-new after this many model calls in
            one run (or sooner, when Temporal suggests it), keeping its history small.
        context: What the model is sent once the conversation outgrows a budget (older
            tool results elided, older turns summarized); None sends it everything,
            and a chat carries all of it into its next run.
        max_turns: Deprecated: `budgets=Budgets(max_turns=...)`.
        max_total_tokens: Deprecated: `budgets=Budgets(max_total_tokens=...)`.
        deadline: Deprecated: `budgets=Budgets(deadline=...)`.
    """

    name: str
    instructions: str
    tools: list[Tool] = field(default_factory=list)
    mcp: list[McpServer] = field(default_factory=list)
    model: str | None = None
    budgets: Budgets = field(default_factory=Budgets)
    output_type: type[BaseModel] | None = None
    native_json_schema: bool = True
    llm: LlmPolicy = field(default_factory=LlmPolicy)
    max_tool_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    approval_timeout: timedelta = timedelta(hours=24)
    continue_as_new_turns: int = 200
    context: ContextPolicy | None = None
    models: Sequence[str] | None = None
    approvers: Sequence[str] | None = None
    approver_keys: ApproverKeys | None = None
    approval_policy: ApprovalPolicy | None = None
    approval_checks: Mapping[str, ApprovalCheck] = field(default_factory=dict)
    max_turns: InitVar[int | None] = None
    max_total_tokens: InitVar[int | None] = None
    deadline: InitVar[timedelta | None] = None

    def __post_init__(
        self, max_turns: int | None, max_total_tokens: int | None, deadline: timedelta | None
    ) -> None:
        if not self.name.strip():
            raise ValueError("an agent needs a non-empty name")
        old = {"max_turns": max_turns, "max_total_tokens": max_total_tokens, "deadline": deadline}
        given: dict[str, Any] = {k: v for k, v in old.items() if v is not None}
        for option in given:
            deprecated(f"Agent({option}=...)", f"Agent(budgets=Budgets({option}=...))")
        try:
            budgets = dataclasses.replace(self.budgets, **given)
        except ValueError as e:
            raise ValueError(f"agent {self.name!r}: {e}") from None
        object.__setattr__(self, "budgets", budgets)
        if not 1 <= self.max_tool_result_bytes <= result_bytes_limit():
            raise ValueError(
                f"agent {self.name!r}: max_tool_result_bytes must be between 1 and "
                f"{result_bytes_limit():,} (a result must fit Temporal's 2 MiB payload limit; "
                "with TETHER_PAYLOAD_STORE set, 64 MiB)"
            )
        if self.approval_timeout <= timedelta(0):
            raise ValueError(f"agent {self.name!r}: approval_timeout must be positive")
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
        policies = [self.approval_policy, *(t.spec.approval_policy for t in self.tools)]
        asked = {name for p in policies if p is not None for name in p.checks}
        if missing := sorted(asked - set(self.approval_checks)):
            raise ValueError(
                f"agent {self.name!r}: its approval policies ask the checks {missing}, "
                "which approval_checks does not register"
            )
        servers = [s.name for s in self.mcp]
        if len(set(servers)) < len(servers):
            raise ValueError(f"agent {self.name!r}: two MCP servers share a name: {servers}")

    def tool(self, name: str) -> Tool | None:
        """The agent's tool called `name`, if it has one."""
        return next((t for t in self.tools if t.name == name), None)

    def mcp_server(self, name: str) -> McpServer | None:
        """The agent's MCP server called `name`, if it has one."""
        return next((s for s in self.mcp if s.name == name), None)

    def spec(self, default_model: str, approver_keys: ApproverKeys | None = None) -> AgentSpec:
        """The agent as a run records it: what the workflow decides with, and what the
        activities act on (tool schemas, the output schema, limits); `approver_keys` are
        the worker's, for an agent that names none."""
        output = None
        if self.output_type is not None:
            output = OutputSpec(
                name=self.output_type.__name__,
                json_schema=self.output_type.model_json_schema(),
                native=self.native_json_schema,
            )
        budgets = self.budgets
        # A cost budget and a policy are recorded only when set: specs without them stay
        # as they were.
        optional: dict[str, Any] = {"max_cost_usd": budgets.max_cost_usd}
        optional["approval_policy"] = self.approval_policy
        optional = {k: v for k, v in optional.items() if v}
        spec = AgentSpec(
            name=self.name,
            instructions=self.instructions,
            model=self.model or default_model,
            max_turns=budgets.max_turns or DEFAULT_MAX_TURNS,
            tools=[t.spec for t in self.tools],
            llm=llm_record(self.llm),
            structured_output=self.output_type is not None,
            approval_timeout_seconds=self.approval_timeout.total_seconds(),
            max_total_tokens=budgets.max_total_tokens or DEFAULT_MAX_TOTAL_TOKENS,
            models=list(self.models) if self.models is not None else [],
            approvers=list(self.approvers) if self.approvers is not None else None,
            approver_keys=self.approver_keys or approver_keys or ApproverKeys(),
            deadline_seconds=budgets.deadline.total_seconds() if budgets.deadline else None,
            continue_as_new_turns=self.continue_as_new_turns,
            output=output,
            max_tool_result_bytes=self.max_tool_result_bytes,
            context=self.context,
            **optional,
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
        scripts: Deprecated: scripts belong to the offline model,
            `LlmSettings.scripted(scripts)` (`tether worker --offline MODULE:ATTR`).
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
        if scripts is not None:
            deprecated(
                "AgentRegistry(scripts=...)",
                "LlmSettings.scripted(scripts) or `tether worker --offline MODULE:ATTR`",
                stacklevel=3,
            )
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
    """The registry `MODULE:ATTR` names; `ConfigurationError` says what is wrong."""
    return as_registry(load_target(target, option="--agents"), source=target)


def load_target(target: str, *, option: str) -> object:
    """The object `MODULE:ATTR` names (given as `option`); `ConfigurationError` says
    what is wrong.

    A module the installed packages do not have is looked for in the working directory
    too (as uvicorn and celery do), added to the end of the path: after the installed
    packages, so a file planted there (`./trio.py`) cannot stand in for one of them, and
    only when the named module needs it."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"{option} {target!r} must be MODULE:ATTR, e.g. myapp.agents:REGISTRY"
        )
    cwd = os.getcwd()
    try:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if cwd in sys.path or e.name is None or not module_name.startswith(e.name):
                raise
            sys.path.append(cwd)
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            raise ModuleMissing(
                f"cannot import {module_name!r}: no module named {e.name!r} (searched the "
                f"installed packages and the working directory {cwd})"
            ) from None
        raise ConfigurationError(f"importing {module_name!r} failed: {_where(e)}") from None
    except Exception as e:
        raise ConfigurationError(f"importing {module_name!r} failed: {_where(e)}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}") from None


def _where(error: BaseException) -> str:
    """`ValueError: ... (myapp/agents.py:12)`: the error and the line that raised it."""
    frames = traceback.extract_tb(error.__traceback__)
    place = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{place}"
