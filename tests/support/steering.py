"""An agent whose turns the interrupt tests stop, and its scripted model: a reply that
takes 10 s, a tool that runs a second, a tool that waits for a person. Served in the
test's process or by `tether worker --agents tests.support.steering:REGISTRY`."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from tether import Agent, AgentRegistry, LlmPolicy, ToolContext, tool
from tether.testing import Slow, Step, call_tools, say

# The model call an interrupt stops: it would answer after 10 s.
SLOW = 10.0
STEER = "Forget that: answer in one word."
# Each call of `record` that ran to its end (in the process that serves the agent).
RECORDED: list[str] = []
# Each unit `transfer` moved (+1), and moved back (-1).
MOVED: list[int] = []


@tool(side_effects=True)
def record(ctx: ToolContext, text: str) -> str:
    """Record `text` (slowly: a second, in a thread a cancellation cannot stop)."""
    time.sleep(1.0)
    RECORDED.append(text)
    return f"recorded {text}"


@tool(side_effects=True, heartbeat_timeout=timedelta(seconds=1))
async def transfer(units: int) -> str:
    """Move `units`, one each half second; cancelled, move back what was moved: never
    half done (its own cancellation rule)."""
    moved = 0
    try:
        for _ in range(units):
            await asyncio.sleep(0.5)
            MOVED.append(1)
            moved += 1
    except asyncio.CancelledError:
        MOVED.extend([-1] * moved)
        raise
    return f"moved {units}"


@tool(side_effects=True, needs_approval=True)
def publish(text: str) -> str:
    """Publish `text` (a person approves first)."""
    RECORDED.append(f"published {text}")
    return "published"


# With a fallback model, which an interrupted call must not move to.
STEERED = Agent(
    name="steered",
    instructions="Be brief.",
    tools=[record, publish, transfer],
    llm=LlmPolicy(fallback_models=["backup"]),
)
# Calls its model in local activities (after the run's first call, which records the spec).
LOCAL = Agent(
    name="local-model", instructions="Be brief.", tools=[record], llm=LlmPolicy(local_activity=True)
)
REGISTRY = AgentRegistry([STEERED, LOCAL])


def script(messages: list[dict[str, Any]]) -> Step:
    """A 10 s answer to "slow", one word after the steer, tools on "record", else an echo."""
    last = messages[-1]
    if last["role"] == "tool":
        return say("done")
    text = str(last["content"])
    if text == STEER:
        return say("Done.")
    if text == "transfer":
        return call_tools(("transfer", {"units": 60}))
    if text == "record":
        return call_tools(("record", {"text": "kept"}), ("publish", {"text": "withdrawn"}))
    if text == "slow":
        return Slow(SLOW, say("the abandoned answer"))
    return say(f"echo: {text}")
