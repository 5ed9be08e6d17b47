"""The support desk with its model called in local activities (`LlmPolicy(local_activity=
True)`), under the same name, for the crash tests' workers
(`tether worker --agents tests.support.local_agents:REGISTRY`)."""

from __future__ import annotations

import dataclasses

from support_desk import REGISTRY as DEMO
from support_desk.agents import SUPPORT_DESK
from tether import AgentRegistry, LlmPolicy

REGISTRY = AgentRegistry(
    [
        dataclasses.replace(SUPPORT_DESK, llm=LlmPolicy(local_activity=True)),
        *(agent for agent in DEMO if agent.name != SUPPORT_DESK.name),
    ]
)
