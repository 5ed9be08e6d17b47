"""The offline scripted model's scripts for the demo's agents: what `python worker.py`
plays them with when no model is configured (`tether worker --agents
support_desk:REGISTRY --offline support_desk.scripts:SCRIPTS`)."""

from __future__ import annotations

from activities.refund_policy import REFUND_JUDGE
from support_desk.agents import SUPPORT_DESK
from support_desk.offline import support_desk_responder
from support_desk.pipeline_agents import TRIAGE, WRITER
from support_desk.pipeline_offline import draft_responder, judge_responder, triage_responder
from tether.testing import Responder

SCRIPTS: dict[str, Responder] = {
    SUPPORT_DESK.name: support_desk_responder,
    TRIAGE.name: triage_responder,
    WRITER.name: draft_responder,
    REFUND_JUDGE: judge_responder,
}
