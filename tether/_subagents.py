"""Sub-agents: an agent hands a task to another agent, which runs as a child workflow.

    LEAD = Agent(
        name="lead",
        instructions="...",
        tools=[subagent("researcher", "Ask the researcher to look something up.")],
    )

The model sees a tool `ask_researcher` taking `{"task": "..."}`. The workflow intercepts
its calls: it starts the `researcher` agent as a child AgentWorkflow (its own run in the
web UI, linked to the parent's, its id the parent's id, turn and tool call id), with at
most the parent's remaining token budget and deadline, and gives the child's answer back
as the tool's result. The child's tokens count in the parent's usage.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tether._tools import Tool


class Handoff(BaseModel):
    task: str = Field(
        min_length=1,
        description="The task, with everything the other agent needs to know: it sees "
        "nothing else of this conversation.",
    )


def subagent(agent: str, description: str, *, name: str | None = None) -> Tool:
    """A tool that runs the agent named `agent` on a task; `name` defaults to
    `ask_<agent>`, `description` tells the model when to use it."""

    def handoff(args: Handoff) -> str:
        raise RuntimeError("a sub-agent runs as a child workflow, never as an activity")

    return Tool(handoff, name=name or f"ask_{agent}", description=description).builtin(
        "subagent", agent=agent
    )
