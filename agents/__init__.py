"""The agents this project ships. A worker serves the agents in `REGISTRY`."""

from __future__ import annotations

from agents.support_desk import SUPPORT_DESK
from tether.agents import AgentRegistry

REGISTRY = AgentRegistry([SUPPORT_DESK])
DEFAULT_AGENT = SUPPORT_DESK.name
