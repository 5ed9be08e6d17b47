"""Tether: durable AI agents as Temporal workflows.

The agent loop is a Temporal workflow; every LLM call and every tool call is a retried
activity. Define agents and tools, serve them with `TetherPlugin` on your own worker (or
`tether worker --agents myapp.agents:REGISTRY`), and drive runs with the `tether` CLI
or `AgentRun`:

    from tether import Agent, AgentRegistry, McpServer, ToolContext, tool

    @tool(side_effects=True, needs_approval=True)
    def close_issue(ctx: ToolContext, number: int) -> str:
        '''Close an issue.'''
        ...

    TRIAGE = Agent(name="issue-triage", instructions="...", tools=[close_issue],
                   mcp=[McpServer.stdio("tracker", ["python", "tracker_server.py"])])
    REGISTRY = AgentRegistry([TRIAGE])

Everything importable from here is the public API; modules whose names start with an
underscore are Tether's own and may change. `tether.testing` holds the test kit.
"""

# Names are imported on first use (PEP 562), so `import tether` is cheap: a workflow
# sandbox that re-imports Tether's workflow modules (a Worker or Replayer without
# TetherPlugin's pass-through) then loads only what workflow code needs.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether._agents import (
        Agent,
        AgentRegistry,
        ModuleMissing,
        UnknownAgentError,
        load_registry,
    )
    from tether._client import AgentRun, RunExists
    from tether._events import (
        ApprovalDecided,
        ApprovalWaiting,
        BudgetReached,
        ContinuedAsNew,
        Event,
        ModelSwitched,
        Reply,
        RunEnded,
        RunEvent,
        StepDone,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        TurnStarted,
        UserMessage,
    )
    from tether._mcp import McpServer
    from tether._messages import Message, ToolCall, Usage
    from tether._plugin import TetherPlugin
    from tether._policies import ContextPolicy, LlmPolicy, ModelOptions, RetryOptions
    from tether._records import AgentSpec, OutputSpec, ToolSpec
    from tether._run_io import (
        AgentInput,
        AgentResult,
        ApprovalDecision,
        ModelSwitch,
        PendingApproval,
        RunState,
        RunStatus,
    )
    from tether._settings import ConfigurationError, Deployment, LlmSettings, WorkerTuning
    from tether._subagents import subagent
    from tether._subscribe import EventsUnavailable, subscribe
    from tether._temporal import TemporalUnreachable, connect, data_converter
    from tether._tools import Tool, ToolContext, ToolError, ToolOptions, tool
    from tether._waiting import WAIT
    from tether._wire import LlmReply, ToolOutcome
    from tether._worker import create_worker
    from tether._workflows.agent import AgentWorkflow
    from tether._workflows.inputs import checked_input
    from tether._workflows.pipeline import Pipeline, PipelineInput, PipelineState, tool_call

_EXPORTS = {
    "Agent": "tether._agents",
    "AgentRegistry": "tether._agents",
    "ModuleMissing": "tether._agents",
    "UnknownAgentError": "tether._agents",
    "load_registry": "tether._agents",
    "AgentRun": "tether._client",
    "RunExists": "tether._client",
    "ApprovalDecided": "tether._events",
    "ApprovalWaiting": "tether._events",
    "BudgetReached": "tether._events",
    "ContinuedAsNew": "tether._events",
    "Event": "tether._events",
    "ModelSwitched": "tether._events",
    "Reply": "tether._events",
    "RunEnded": "tether._events",
    "RunEvent": "tether._events",
    "StepDone": "tether._events",
    "TextDelta": "tether._events",
    "ToolCallFinished": "tether._events",
    "ToolCallStarted": "tether._events",
    "TurnStarted": "tether._events",
    "UserMessage": "tether._events",
    "McpServer": "tether._mcp",
    "Message": "tether._messages",
    "ToolCall": "tether._messages",
    "Usage": "tether._messages",
    "TetherPlugin": "tether._plugin",
    "AgentInput": "tether._run_io",
    "AgentResult": "tether._run_io",
    "AgentSpec": "tether._records",
    "ApprovalDecision": "tether._run_io",
    "ContextPolicy": "tether._policies",
    "LlmPolicy": "tether._policies",
    "ModelOptions": "tether._policies",
    "LlmReply": "tether._wire",
    "ModelSwitch": "tether._run_io",
    "OutputSpec": "tether._records",
    "PendingApproval": "tether._run_io",
    "RetryOptions": "tether._policies",
    "RunState": "tether._run_io",
    "RunStatus": "tether._run_io",
    "ToolOutcome": "tether._wire",
    "ToolSpec": "tether._records",
    "ConfigurationError": "tether._settings",
    "Deployment": "tether._settings",
    "LlmSettings": "tether._settings",
    "WorkerTuning": "tether._settings",
    "subagent": "tether._subagents",
    "EventsUnavailable": "tether._subscribe",
    "subscribe": "tether._subscribe",
    "TemporalUnreachable": "tether._temporal",
    "connect": "tether._temporal",
    "data_converter": "tether._temporal",
    "Tool": "tether._tools",
    "ToolContext": "tether._tools",
    "ToolError": "tether._tools",
    "ToolOptions": "tether._tools",
    "tool": "tether._tools",
    "WAIT": "tether._waiting",
    "create_worker": "tether._worker",
    "AgentWorkflow": "tether._workflows.agent",
    "checked_input": "tether._workflows.inputs",
    "Pipeline": "tether._workflows.pipeline",
    "PipelineInput": "tether._workflows.pipeline",
    "PipelineState": "tether._workflows.pipeline",
    "tool_call": "tether._workflows.pipeline",
}
__all__ = [
    "WAIT",
    "Agent",
    "AgentInput",
    "AgentRegistry",
    "AgentResult",
    "AgentRun",
    "AgentSpec",
    "AgentWorkflow",
    "ApprovalDecided",
    "ApprovalDecision",
    "ApprovalWaiting",
    "BudgetReached",
    "ConfigurationError",
    "ContextPolicy",
    "ContinuedAsNew",
    "Deployment",
    "Event",
    "EventsUnavailable",
    "LlmPolicy",
    "LlmReply",
    "LlmSettings",
    "McpServer",
    "Message",
    "ModelOptions",
    "ModelSwitch",
    "ModelSwitched",
    "ModuleMissing",
    "OutputSpec",
    "PendingApproval",
    "Pipeline",
    "PipelineInput",
    "PipelineState",
    "Reply",
    "RetryOptions",
    "RunEnded",
    "RunEvent",
    "RunExists",
    "RunState",
    "RunStatus",
    "StepDone",
    "TemporalUnreachable",
    "TetherPlugin",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolContext",
    "ToolError",
    "ToolOptions",
    "ToolOutcome",
    "ToolSpec",
    "TurnStarted",
    "UnknownAgentError",
    "Usage",
    "UserMessage",
    "WorkerTuning",
    "checked_input",
    "connect",
    "create_worker",
    "data_converter",
    "load_registry",
    "subagent",
    "subscribe",
    "tool",
    "tool_call",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
