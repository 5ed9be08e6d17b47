"""Resolving an agent's name to the spec a run follows."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether.agents import AgentRegistry, UnknownAgentError
from tether.seam import DESCRIBE_AGENT_ACTIVITY, AgentSpec


class AgentActivities:
    def __init__(self, agents: AgentRegistry, default_model: str, *, searchable: bool) -> None:
        self._agents = agents
        self._default_model = default_model
        self._searchable = searchable

    @activity.defn(name=DESCRIBE_AGENT_ACTIVITY)
    async def describe_agent(self, name: str) -> AgentSpec:
        """The agent's spec, recorded in history so the run replays against it."""
        try:
            spec = self._agents.get(name).spec(self._default_model)
        except UnknownAgentError as e:
            raise ApplicationError(str(e), type="UnknownAgent", non_retryable=True) from e
        # Rebuilt from a full dump so every field counts as set and is recorded, defaults
        # included: a run replays against the values it started with even when a later
        # Tether changes a default (the converter leaves unset fields out).
        return AgentSpec.model_validate(
            spec.model_copy(update={"searchable": self._searchable}).model_dump()
        )
