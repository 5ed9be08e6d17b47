"""One tool call = one activity: validate the model's arguments, then run the tool."""

from __future__ import annotations

from temporalio import activity

from tether.agents import AgentRegistry
from tether.seam import TOOL_ACTIVITY, ToolOutcome, ToolRequest
from tether.tools import ToolContext


class ToolActivities:
    def __init__(self, agents: AgentRegistry) -> None:
        self._agents = agents

    @activity.defn(name=TOOL_ACTIVITY)
    async def run_tool(self, request: ToolRequest) -> ToolOutcome:
        """Run one tool call. Unknown tools and bad arguments come back explained."""
        agent = self._agents.get(request.agent)
        tool = agent.tool(request.call.name)
        if tool is None:
            known = ", ".join(t.name for t in agent.tools)
            return ToolOutcome(
                error="unknown_tool",
                content=f"Error: there is no tool named {request.call.name!r}. "
                f"Available tools: {known}.",
            )
        ctx = ToolContext(
            idempotency_key=request.idempotency_key,
            workflow_id=activity.info().workflow_id or "",
            tool_call_id=request.call.id,
        )
        return await tool.invoke(request.call.arguments, ctx)
