"""The benchmark's agents, tool and scripted model.

The standard agent is the one the peers' benchmarks run: 4 model calls, 3 calls of one
ordinary tool (`get_weather(city)`, not declared fast), every option at its default.
The long agent is the same agent asked for more turns; the parked agent calls the
built-in `wait` tool for 24 hours. Variants of the standard agent each pull one of
Tether's levers. The scripted model plays every conversation from its messages alone
(no queue), so any number of runs can be in flight at once against one server; a
prompt may ask for a model latency of its own ("bench: 4 turns, 200 ms").
"""

from __future__ import annotations

import re
from typing import Any

from tether import WAIT, Agent, AgentRegistry, Budgets, LlmPolicy, Tool
from tether._limits import MAX_TURNS_LIMIT
from tether.testing import Responder, Slow, Step, call_tools, say

STANDARD_TURNS = 4  # model calls of the standard agent: 3 tool calls, then the answer
PARK_HOURS = 24.0
CITIES = ("Paris", "Oslo", "Lima", "Accra", "Osaka", "Quito", "Perth")
# A result of a realistic size, so history growth per turn is not all overhead.
FORECAST = "light rain clearing by evening, wind 12 km/h from the south-west, humidity 81%"


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"{city}: 18 °C, {FORECAST}"


INSTRUCTIONS = "You are a weather assistant. Look up each city you are asked about, then answer."


def _agent(name: str, *, fast: bool = False, local_llm: bool = False) -> Agent:
    return Agent(
        name=name,
        instructions=INSTRUCTIONS,
        tools=[Tool(get_weather, fast=fast)],
        budgets=Budgets(max_turns=MAX_TURNS_LIMIT),
        llm=LlmPolicy(local_activity=True) if local_llm else LlmPolicy(),
    )


BENCH = _agent("bench")  # Tether's default configuration
# The levers, one agent each: the tool as a `fast` local activity, model calls as local
# activities, and both.
BENCH_FAST_TOOL = _agent("bench-fast-tool", fast=True)
BENCH_LOCAL_LLM = _agent("bench-local-llm", local_llm=True)
BENCH_BOTH = _agent("bench-both", fast=True, local_llm=True)
PARK = Agent(
    name="bench-park",
    instructions="You are a benchmark agent that waits.",
    tools=[WAIT],
    budgets=Budgets(max_turns=2),
)
REGISTRY = AgentRegistry([BENCH, BENCH_FAST_TOOL, BENCH_LOCAL_LLM, BENCH_BOTH, PARK])

PROMPT = re.compile(r"^bench: (\d+) turns(?:, (\d+) ms)?$")
PARK_PROMPT = "bench: park"


def prompt(turns: int, latency_ms: int = 0) -> str:
    """The user message that asks the scripted model for `turns` model calls, each
    replied to after `latency_ms` (on top of the server's own latency)."""
    return f"bench: {turns} turns" + (f", {latency_ms} ms" if latency_ms else "")


def responder(latency: float = 0.0) -> Responder:
    """The scripted model's replies, each after `latency` seconds (plus the prompt's)."""

    def respond(messages: list[dict[str, Any]]) -> Step:
        step, asked = _next_step(messages)
        delay = latency + asked
        return Slow(delay, step) if delay > 0 else step

    return respond


def _next_step(messages: list[dict[str, Any]]) -> tuple[Step, float]:
    user = str(next(m["content"] for m in messages if m.get("role") == "user"))
    done = sum(1 for m in messages if m.get("role") == "assistant")
    if user == PARK_PROMPT:
        if done == 0:
            return call_tools(("wait", {"hours": PARK_HOURS, "reason": "bench: park"})), 0.0
        return say("done waiting"), 0.0
    match = PROMPT.match(user)
    if match is None:
        return say(f"not a benchmark prompt: {user[:60]!r}"), 0.0
    latency = int(match.group(2) or 0) / 1000
    if done + 1 >= int(match.group(1)):
        return say(f"done after {done} tool calls"), latency
    city = CITIES[done % len(CITIES)]
    return call_tools(("get_weather", {"city": city})), latency
