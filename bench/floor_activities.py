"""The floor workflow's activities: thin wrappers over `bench.calls`."""

from __future__ import annotations

from openai import AsyncOpenAI
from temporalio import activity

from bench.calls import complete, run_tool
from bench.floor_workflow import (
    FLOOR_LLM_ACTIVITY,
    FLOOR_SPEC_ACTIVITY,
    FLOOR_TOOL_ACTIVITY,
    ToolRun,
)
from bench.loop import Message
from tether import Agent
from tether.testing import OFFLINE_MODEL
from tether.workflow import AgentSpec


class FloorActivities:
    """The activities of one agent (the floor serves only the bench agent)."""

    def __init__(self, agent: Agent, client: AsyncOpenAI) -> None:
        self._agent = agent
        self._client = client

    @activity.defn(name=FLOOR_LLM_ACTIVITY)
    async def llm(self, messages: list[Message]) -> Message:
        """One model call with the bench agent's tools."""
        return await complete(self._client, self._agent, messages)

    @activity.defn(name=FLOOR_TOOL_ACTIVITY)
    async def tool(self, run: ToolRun) -> str:
        return await run_tool(self._agent, run.name, run.arguments, run.key)

    @activity.defn(name=FLOOR_SPEC_ACTIVITY)
    async def spec(self, agent: str) -> AgentSpec:
        """The spec Tether's describe activity would return, so it costs the same bytes."""
        assert agent == self._agent.name
        return self._agent.spec(OFFLINE_MODEL)
