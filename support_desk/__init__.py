"""The support desk: the demo application, written against Tether's public API only.

`REGISTRY` is what its worker serves (`python worker.py`, or `tether worker --agents
support_desk:REGISTRY`): the support desk agent, the two agents the refund pipeline's
LLM steps use, and the pipeline workflow itself. `support_desk.scripts` plays all three
without a model, for the offline demo.
"""

from __future__ import annotations

from support_desk.agents import SUPPORT_DESK
from support_desk.pipeline_agents import TRIAGE, WRITER
from tether import AgentRegistry
from workflows.refund_pipeline import RefundPipelineWorkflow

REGISTRY = AgentRegistry([SUPPORT_DESK, TRIAGE, WRITER], workflows=[RefundPipelineWorkflow])
DEFAULT_AGENT = SUPPORT_DESK.name
DEFAULT_PIPELINE = "RefundPipelineWorkflow"
