"""Resolving an agent's name: to the spec a run follows, and to the agent a call acts for."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether._activities.heartbeat import heartbeating
from tether._activities.mcp_listing import listed_tools
from tether._activities.mcp_sessions import McpSessions
from tether._activities.specs import RecordedSpecs
from tether._agents import Agent, AgentRegistry, UnknownAgentError
from tether._records import AgentSpec
from tether._wire import DESCRIBE_AGENT_ACTIVITY


def served(agents: AgentRegistry, name: str) -> Agent:
    """The agent a request names; one this worker does not serve fails the call at once
    (a retry on the same worker cannot help), naming the agents it does serve."""
    try:
        return agents.get(name)
    except UnknownAgentError as e:
        raise ApplicationError(str(e), type="UnknownAgent", non_retryable=True) from None


class AgentActivities:
    def __init__(self, agents: AgentRegistry, specs: RecordedSpecs, sessions: McpSessions) -> None:
        self._agents = agents
        self._specs = specs
        self._sessions = sessions
        # Whether the namespace has Tether's search attributes: the plugin finds out
        # once the worker runs (see TetherPlugin.run_worker).
        self.searchable = False
        # Upsert a run's status at every change (TetherPlugin's `live_status`).
        self.live_status = False
        # The queue of the worker's model calls, if it limits them (see TetherPlugin).
        self.llm_queue: str | None = None

    @activity.defn(name=DESCRIBE_AGENT_ACTIVITY)
    async def describe_agent(self, name: str) -> AgentSpec:
        """The agent's spec, recorded in history so the run replays against it; with
        the tools of its MCP servers as they list them now."""
        return await self.spec_for_run(name)

    async def spec_for_run(self, name: str) -> AgentSpec:
        """What a run records of agent `name` (call inside an activity): its live spec,
        with its MCP servers' tools as they list them now and this worker's settings.
        Also a run's first model call's (see LlmRequest.first)."""
        agent = served(self._agents, name)
        spec = self._specs.live(agent)
        if agent.mcp:
            async with heartbeating():  # a server may take its time to start
                listed = await listed_tools(agent, self._sessions)
            spec = spec.model_copy(update={"tools": spec.tools + listed})
            spec.digest = spec.surface_digest()
            self._specs.remember(spec)
        # Rebuilt from a full dump so every field counts as set and is recorded, defaults
        # included: a run replays against the values it started with even when a later
        # Tether changes a default (the converter leaves unset fields out).
        return AgentSpec.model_validate(
            spec.model_copy(
                update={
                    "searchable": self.searchable,
                    "live_status": self.live_status,
                    "llm_queue": self.llm_queue,
                }
            ).model_dump()
        )
