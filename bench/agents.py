"""The benchmark's agents, tools and scripted model.

The standard agent makes 4 LLM calls and 3 tool calls (two fast read-only tools, one
side-effecting tool); the long agent is the same agent asked for more turns; the parked
agent calls the built-in `wait` tool for 24 hours. The scripted model plays every
conversation from its messages alone (no queue), so any number of runs can be in flight
at once against one server.
"""

from __future__ import annotations

import re
from typing import Any

from tether import WAIT, Agent, AgentRegistry, LlmPolicy, Tool, ToolContext
from tether._seam import MAX_TURNS_LIMIT
from tether.testing import Responder, Slow, Step, call_tools, say

STANDARD_TURNS = 4  # LLM calls of the standard agent: 3 tool calls, then the answer
PARK_HOURS = 24.0
# Tool results of a realistic size, so history growth per turn is not all overhead.
RESULT_PADDING = "x" * 160

# The side-effecting tool's "database": one row per idempotency key, like a real
# table under a UNIQUE constraint. Lives in the worker (or plain-loop) process.
RECORDED: dict[str, str] = {}


def lookup(key: str) -> str:
    """Look a record up by its key."""
    return f"record {key}: status open, owner bench, {RESULT_PADDING}"


def quote(key: str) -> str:
    """Price the record with this key."""
    return f"quote for {key}: 42.00 EUR, valid 30 days, {RESULT_PADDING}"


def record(ctx: ToolContext, key: str, note: str) -> str:
    """Write a note on the record with this key (a side effect, done once per call)."""
    RECORDED.setdefault(ctx.idempotency_key, note)
    return f"noted on {key}: {note}"


def _tools(*, fast: bool) -> list[Tool]:
    return [
        Tool(lookup, fast=fast),
        Tool(quote, fast=fast),
        Tool(record, side_effects=True),
    ]


BENCH = Agent(
    name="bench",
    instructions="You are a benchmark agent. Call the tools you are told to, then answer.",
    tools=_tools(fast=True),
    max_turns=MAX_TURNS_LIMIT,
)
# The same agent with every tool a regular activity: the `fast` lever, measured.
BENCH_REMOTE = Agent(
    name="bench-remote",
    instructions=BENCH.instructions,
    tools=_tools(fast=False),
    max_turns=MAX_TURNS_LIMIT,
)
# The same agent calling its model in local activities: Tether's opt-in latency lever.
BENCH_LOCAL_LLM = Agent(
    name="bench-local-llm",
    instructions=BENCH.instructions,
    tools=_tools(fast=True),
    max_turns=MAX_TURNS_LIMIT,
    llm=LlmPolicy(local_activity=True),
)
PARK = Agent(
    name="bench-park",
    instructions="You are a benchmark agent that waits.",
    tools=[WAIT],
    max_turns=2,
)
REGISTRY = AgentRegistry([BENCH, BENCH_REMOTE, BENCH_LOCAL_LLM, PARK])

PROMPT = re.compile(r"^bench: (\d+) turns$")
PARK_PROMPT = "bench: park"


def prompt(turns: int) -> str:
    """The user message that asks the scripted model for `turns` LLM calls."""
    return f"bench: {turns} turns"


def responder(latency: float = 0.0) -> Responder:
    """The scripted model's replies, each after `latency` seconds."""

    def respond(messages: list[dict[str, Any]]) -> Step:
        step = _next_step(messages)
        return Slow(latency, step) if latency > 0 else step

    return respond


def _next_step(messages: list[dict[str, Any]]) -> Step:
    user = str(next(m["content"] for m in messages if m.get("role") == "user"))
    done = sum(1 for m in messages if m.get("role") == "assistant")
    if user == PARK_PROMPT:
        if done == 0:
            return call_tools(("wait", {"hours": PARK_HOURS, "reason": "bench: park"}))
        return say("done waiting")
    match = PROMPT.match(user)
    if match is None:
        return say(f"not a benchmark prompt: {user[:60]!r}")
    if done + 1 >= int(match.group(1)):
        return say(f"done after {done} tool calls")
    key = f"K-{done:04d}"
    name = ("lookup", "quote", "record")[done % 3]
    args: dict[str, Any] = {"key": key}
    if name == "record":
        args["note"] = f"checked at turn {done + 1}"
    return call_tools((name, args))
