"""Agents used by the LLM-boundary tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.common import RetryPolicy

from tests.support.order_desk import ORDER_DESK
from tether import Agent, AgentRegistry, Budgets, LlmPolicy, tool


class Triage(BaseModel):
    category: Literal["refund", "shipping", "other"]
    order_id: str | None


QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.1),
    maximum_interval=timedelta(seconds=0.5),
    maximum_attempts=5,
)
# Backs off for long on its own: a provider's delay that shows up as short is the header's.
SLOW_RETRY = RetryPolicy(initial_interval=timedelta(seconds=30), maximum_attempts=3)

TRIAGE = Agent(
    name="triage",
    instructions="Classify the support ticket.",
    output_type=Triage,
    llm=LlmPolicy(output_repairs=1),
)
TRIAGE_IN_PROMPT = Agent(
    name="triage-in-prompt",
    instructions="Classify the support ticket.",
    output_type=Triage,
    native_json_schema=False,
)
WITH_FALLBACK = Agent(
    name="with-fallback",
    instructions="Be helpful.",
    model="primary-model",
    llm=LlmPolicy(fallback_models=["backup-model"], retry=QUICK_RETRY),
)
QUICK = Agent(
    name="quick",
    instructions="Be helpful.",
    llm=LlmPolicy(retry=QUICK_RETRY, timeout=timedelta(seconds=3)),
)
PATIENT = Agent(name="patient", instructions="Be helpful.", llm=LlmPolicy(retry=SLOW_RETRY))

LOCAL = Agent(
    name="local-llm",
    instructions=ORDER_DESK.instructions,
    tools=ORDER_DESK.tools,
    llm=LlmPolicy(local_activity=True, retry=QUICK_RETRY),
)

REGISTRY = AgentRegistry(
    [ORDER_DESK, TRIAGE, TRIAGE_IN_PROMPT, WITH_FALLBACK, QUICK, PATIENT, LOCAL]
)


@tool(fast=True)
def ping() -> str:
    """Answer pong."""
    return "pong"


# Two model calls per message, 10,000 tokens, two models: what a run may not raise.
LIMITED = Agent(
    name="limited",
    instructions="Be brief.",
    tools=[ping],
    budgets=Budgets(max_turns=2, max_total_tokens=10_000),
    models=["tether-scripted", "cheap-model"],
)
LIMITED_AGENTS = AgentRegistry([LIMITED])
