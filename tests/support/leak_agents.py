"""Agents whose failures carry secrets and customer data, for tests/ops/test_secret_leaks.py
(served by a real `tether worker --agents tests.support.leak_agents:REGISTRY`)."""

from __future__ import annotations

from temporalio.common import RetryPolicy

from tether import Agent, AgentRegistry, LlmPolicy, tool

CUSTOMER = "canary.customer.7f3a@example.com"
ONCE = RetryPolicy(maximum_attempts=1)


@tool(retry=ONCE)
def crm_lookup(email: str) -> str:
    """Look a customer up in the CRM."""
    raise RuntimeError(f"CRM has no record of {CUSTOMER} (asked for {email})")


REGISTRY = AgentRegistry(
    [
        Agent(name="crm", instructions="Look customers up.", tools=[crm_lookup]),
        Agent(name="plain", instructions="Answer.", llm=LlmPolicy(retry=ONCE)),
    ]
)
