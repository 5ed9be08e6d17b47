"""An agent with a tool of each kind, for replies and results of any shape
(tests/engine/test_hostile_replies.py): every path a model's call can take in the workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from tether import WAIT, Agent, AgentRegistry, Budgets, LlmPolicy, subagent, tool

# What `lookup` returns for a key: the test sets it, so tool results are generated too.
RESULTS: dict[str, str] = {}
QUICK = RetryPolicy(
    initial_interval=timedelta(seconds=0.1),
    maximum_interval=timedelta(seconds=0.2),
    maximum_attempts=3,
)


@tool(retry=QUICK)
def echo(text: str) -> str:
    """Say `text` back."""
    return text


@tool(fast=True, retry=QUICK)
def lookup(key: str) -> str:
    """Look a key up."""
    return RESULTS.get(key, "nothing")


@tool(needs_approval=True, retry=QUICK)
def pay(amount: int, to: str = "shop") -> str:
    """Pay an amount (a person approves first)."""
    return f"paid {amount} to {to}"


HELPER = Agent(
    name="helper", instructions="Help.", llm=LlmPolicy(retry=QUICK), budgets=Budgets(max_turns=2)
)
HOSTILE = Agent(
    name="hostile",
    instructions="Use your tools.",
    tools=[echo, lookup, pay, WAIT, subagent("helper", "Ask the helper.")],
    llm=LlmPolicy(retry=QUICK, fallback_models=["backup"]),
    budgets=Budgets(max_turns=5),
)
REGISTRY = AgentRegistry([HOSTILE, HELPER])
TOOL_NAMES = ["echo", "lookup", "pay", "wait", "ask_helper"]
