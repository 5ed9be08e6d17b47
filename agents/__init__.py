"""The agents this project ships. A worker serves the agents in `REGISTRY`."""

from __future__ import annotations

from agents.refund_pipeline import TRIAGE, WRITER
from agents.support_desk import SUPPORT_DESK
from tether.agents import AgentRegistry

# The pipeline's steps are agents too: the worker looks them up by name.
REGISTRY = AgentRegistry([SUPPORT_DESK, TRIAGE, WRITER])
DEFAULT_AGENT = SUPPORT_DESK.name
