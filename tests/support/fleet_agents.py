"""A long agent for fleet tests: it calls a cheap tool `steps - 1` times, then answers
(served by `tether worker --agents tests.support.fleet_agents:REGISTRY`)."""

from __future__ import annotations

from typing import Any

from tether import Agent, AgentRegistry, Budgets, tool
from tether.testing import Step, call_tools, say

STEPS = 20


@tool
def note(step: int) -> str:
    """Note that a step is done."""
    return f"step {step} noted: " + "x" * 200


def stepper(messages: list[dict[str, Any]]) -> Step:
    done = sum(m.get("role") == "tool" for m in messages)
    if done < STEPS - 1:
        return call_tools(("note", {"step": done + 1}))
    return say(f"All {done} steps are noted.")


STEPPER = Agent(
    name="stepper", instructions="Note each step.", tools=[note], budgets=Budgets(max_turns=100)
)
REGISTRY = AgentRegistry([STEPPER])
SCRIPTS = {STEPPER.name: stepper}
