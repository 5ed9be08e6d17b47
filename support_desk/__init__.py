"""The support desk: the demo application, written against Tether's public API only.

`REGISTRY` is what its worker serves (`python worker.py`, or `tether worker --agents
support_desk:REGISTRY`): the support desk agent, the two agents the refund pipeline's
LLM steps use, the pipeline workflow itself, and the offline scripts that play all three
without a model.
"""

from __future__ import annotations

from support_desk.agents import SUPPORT_DESK
from support_desk.offline import support_desk_responder
from support_desk.pipeline_agents import TRIAGE, WRITER
from support_desk.pipeline_offline import draft_responder, triage_responder
from tether import AgentRegistry
from tether.testing import Responder
from workflows.refund_pipeline import RefundPipelineWorkflow

SCRIPTS: dict[str, Responder] = {
    SUPPORT_DESK.name: support_desk_responder,
    TRIAGE.name: triage_responder,
    WRITER.name: draft_responder,
}
REGISTRY = AgentRegistry(
    [SUPPORT_DESK, TRIAGE, WRITER], workflows=[RefundPipelineWorkflow], scripts=SCRIPTS
)
DEFAULT_AGENT = SUPPORT_DESK.name
DEFAULT_PIPELINE = "RefundPipelineWorkflow"
