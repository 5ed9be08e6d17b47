"""Tether: durable AI agents as Temporal workflows.

The agent loop is a Temporal workflow; every LLM call and every tool call is a retried
activity. Define agents and tools, serve them with `TetherPlugin` on your own worker (or
`tether worker --agents myapp.agents:REGISTRY`), and drive runs with `AgentRun` or the
`tether` CLI:

    from tether import Agent, AgentRegistry, Budgets, ToolContext, tool

    @tool(side_effects=True, needs_approval=True)
    def close_issue(ctx: ToolContext, number: int) -> str:
        '''Close an issue.'''
        ...

    TRIAGE = Agent(name="issue-triage", instructions="...", tools=[close_issue],
                   budgets=Budgets(max_turns=8))
    REGISTRY = AgentRegistry([TRIAGE])

This namespace holds what a project needs to define agents and tools, serve them and
drive their runs. The rest lives in public submodules: `tether.events` (a run's events
and `subscribe`), `tether.workflow` (`run_agent` and `Pipeline`, for your own
workflows), `tether.worker` (assembling a worker yourself), `tether.testing` (the test
kit) and `tether.cli`. Modules whose names start with an underscore are Tether's own
and may change without notice.
"""

# Names are imported on first use (PEP 562), so `import tether` is cheap: a workflow
# sandbox that re-imports Tether's workflow modules (a Worker or Replayer without
# TetherPlugin's pass-through) then loads only what workflow code needs.

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether._agents import Agent as Agent
    from tether._agents import AgentRegistry as AgentRegistry
    from tether._agents import UnknownAgentError as UnknownAgentError
    from tether._client import AgentRun as AgentRun
    from tether._mcp import McpServer as McpServer
    from tether._messages import Message as Message
    from tether._messages import Usage as Usage
    from tether._plugin import TetherPlugin as TetherPlugin
    from tether._policies import Budgets as Budgets
    from tether._policies import ContextPolicy as ContextPolicy
    from tether._policies import LlmPolicy as LlmPolicy
    from tether._questions import ask_person as ask_person
    from tether._run_handles import RunExists as RunExists
    from tether._run_io import AgentResult as AgentResult
    from tether._run_io import ApprovalDecision as ApprovalDecision
    from tether._run_io import ModelSwitch as ModelSwitch
    from tether._run_io import PendingApproval as PendingApproval
    from tether._run_io import RunState as RunState
    from tether._run_io import RunStatus as RunStatus
    from tether._settings import ConfigurationError as ConfigurationError
    from tether._settings import LlmSettings as LlmSettings
    from tether._signing import Signer as Signer
    from tether._subagents import subagent as subagent
    from tether._temporal import TemporalUnreachable as TemporalUnreachable
    from tether._temporal import connect as connect
    from tether._tools import Tool as Tool
    from tether._tools import ToolContext as ToolContext
    from tether._tools import ToolError as ToolError
    from tether._tools import tool as tool
    from tether._trust import ApproverKeys as ApproverKeys
    from tether._waiting import WAIT as WAIT

# Deprecated here (see _MOVED): importable, with a DeprecationWarning, until 0.3.
if TYPE_CHECKING:
    from tether._records import OutputSpec as OutputSpec
    from tether._records import RetryOptions as RetryOptions
    from tether._records import ToolSpec as ToolSpec
    from tether._run_io import AgentInput as AgentInput
    from tether._tool_options import ToolOptions as ToolOptions
    from tether.events import ApprovalDecided as ApprovalDecided
    from tether.events import ApprovalWaiting as ApprovalWaiting
    from tether.events import BudgetReached as BudgetReached
    from tether.events import ContinuedAsNew as ContinuedAsNew
    from tether.events import Event as Event
    from tether.events import EventsUnavailable as EventsUnavailable
    from tether.events import ModelSwitched as ModelSwitched
    from tether.events import Reply as Reply
    from tether.events import RunEnded as RunEnded
    from tether.events import RunEvent as RunEvent
    from tether.events import StepDone as StepDone
    from tether.events import TextDelta as TextDelta
    from tether.events import ToolCallFinished as ToolCallFinished
    from tether.events import ToolCallStarted as ToolCallStarted
    from tether.events import TurnStarted as TurnStarted
    from tether.events import UserMessage as UserMessage
    from tether.events import subscribe as subscribe
    from tether.worker import Deployment as Deployment
    from tether.worker import ModuleMissing as ModuleMissing
    from tether.worker import WorkerTuning as WorkerTuning
    from tether.worker import create_worker as create_worker
    from tether.worker import data_converter as data_converter
    from tether.worker import load_registry as load_registry
    from tether.workflow import AgentSpec as AgentSpec
    from tether.workflow import AgentWorkflow as AgentWorkflow
    from tether.workflow import LlmReply as LlmReply
    from tether.workflow import Pipeline as Pipeline
    from tether.workflow import PipelineInput as PipelineInput
    from tether.workflow import PipelineState as PipelineState
    from tether.workflow import ToolCall as ToolCall
    from tether.workflow import ToolOutcome as ToolOutcome
    from tether.workflow import checked_input as checked_input
    from tether.workflow import tool_call as tool_call

# The public names, and the private module that defines each.
_EXPORTS = {
    "Agent": "tether._agents",
    "AgentRegistry": "tether._agents",
    "UnknownAgentError": "tether._agents",
    "AgentRun": "tether._client",
    "RunExists": "tether._run_handles",
    "McpServer": "tether._mcp",
    "Message": "tether._messages",
    "Usage": "tether._messages",
    "TetherPlugin": "tether._plugin",
    "Budgets": "tether._policies",
    "ContextPolicy": "tether._policies",
    "LlmPolicy": "tether._policies",
    "ask_person": "tether._questions",
    "AgentResult": "tether._run_io",
    "ApprovalDecision": "tether._run_io",
    "ModelSwitch": "tether._run_io",
    "PendingApproval": "tether._run_io",
    "RunState": "tether._run_io",
    "RunStatus": "tether._run_io",
    "ConfigurationError": "tether._settings",
    "LlmSettings": "tether._settings",
    "Signer": "tether._signing",
    "subagent": "tether._subagents",
    "TemporalUnreachable": "tether._temporal",
    "connect": "tether._temporal",
    "Tool": "tether._tools",
    "ToolContext": "tether._tools",
    "ToolError": "tether._tools",
    "tool": "tether._tools",
    "ApproverKeys": "tether._trust",
    "WAIT": "tether._waiting",
}
# The same names as _EXPORTS (a literal list, which type checkers read); a test checks
# that __all__, _EXPORTS and the imports above agree.
__all__ = [
    "WAIT",
    "Agent",
    "AgentRegistry",
    "AgentResult",
    "AgentRun",
    "ApprovalDecision",
    "ApproverKeys",
    "Budgets",
    "ConfigurationError",
    "ContextPolicy",
    "LlmPolicy",
    "LlmSettings",
    "McpServer",
    "Message",
    "ModelSwitch",
    "PendingApproval",
    "RunExists",
    "RunState",
    "RunStatus",
    "Signer",
    "TemporalUnreachable",
    "TetherPlugin",
    "Tool",
    "ToolContext",
    "ToolError",
    "UnknownAgentError",
    "Usage",
    "ask_person",
    "connect",
    "subagent",
    "tool",
]

_EVENTS = "tether.events"
_WORKFLOW = "tether.workflow"
_WORKER = "tether.worker"
# Names of Tether 0.1 that left this namespace: where each is now (a module and its
# name there) and what to use instead.
_MOVED: dict[str, tuple[str, str, str]] = {
    **{
        name: (_EVENTS, name, f"{_EVENTS}.{name}")
        for name in (
            "ApprovalDecided",
            "ApprovalWaiting",
            "BudgetReached",
            "ContinuedAsNew",
            "Event",
            "EventsUnavailable",
            "ModelSwitched",
            "Reply",
            "RunEnded",
            "RunEvent",
            "StepDone",
            "TextDelta",
            "ToolCallFinished",
            "ToolCallStarted",
            "TurnStarted",
            "UserMessage",
            "subscribe",
        )
    },
    **{
        name: (_WORKFLOW, name, f"{_WORKFLOW}.{name}")
        for name in (
            "AgentSpec",
            "AgentWorkflow",
            "LlmReply",
            "Pipeline",
            "PipelineInput",
            "PipelineState",
            "ToolCall",
            "ToolOutcome",
            "checked_input",
            "tool_call",
        )
    },
    **{
        name: (_WORKER, name, f"{_WORKER}.{name}")
        for name in (
            "Deployment",
            "ModuleMissing",
            "WorkerTuning",
            "create_worker",
            "data_converter",
            "load_registry",
        )
    },
    "AgentInput": (
        "tether._run_io",
        "AgentInput",
        "AgentRun.start(...) or tether.workflow.run_agent(...) (run inputs are private)",
    ),
    "OutputSpec": ("tether._records", "OutputSpec", "Agent(output_type=...)"),
    "ToolSpec": ("tether._records", "ToolSpec", "tether.workflow.AgentSpec.tools"),
    "RetryOptions": ("tether._records", "RetryOptions", "temporalio.common.RetryPolicy"),
    "ToolOptions": ("tether._tool_options", "ToolOptions", "a dict of Tool's keyword arguments"),
}

# A library stays quiet unless the application configures logging.
logging.getLogger("tether").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    from tether._deprecation import deprecated
    from tether._public import rehome

    if name == "__version__":
        from tether._version import installed_version

        return installed_version()
    module = _EXPORTS.get(name)
    if module is not None:
        value = rehome(getattr(importlib.import_module(module), name), __name__)
        globals()[name] = value
        return value
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    where, attr, instead = moved
    deprecated(f"tether.{name}", instead, stacklevel=3)
    return getattr(importlib.import_module(where), attr)


def __dir__() -> list[str]:
    return __all__
