"""The offline scripted model's part in the refund pipeline, and the offline model of the
demo as a whole: it plays the support desk agent and the pipeline's two LLM steps.

Like the support desk's script it reads the request alone, so its answers are the same
for the same ticket: the triage step finds the order id and a refund wish in the words
the support desk script looks for; the writer turns the pipeline's facts into a reply.
"""

from __future__ import annotations

import json
from typing import Any

from agents.refund_pipeline import TRIAGE, WRITER
from agents.support_script import ORDER_ID, WANTS_REFUND, answer, support_desk_responder
from tether.scripted_llm import Step, say
from workflows.pipeline_seam import Triage


def offline_responder(messages: list[dict[str, Any]]) -> Step:
    """The next reply of whichever agent or step sent `messages` (by its instructions)."""
    system = messages[0].get("content") if messages else None
    if system == TRIAGE.instructions:
        return _triage(_last_user(messages))
    if system == WRITER.instructions:
        return _draft(_last_user(messages))
    return support_desk_responder(messages)


def _triage(ticket: str) -> Step:
    match = ORDER_ID.search(ticket)
    triage = Triage(
        wants_refund=WANTS_REFUND.search(ticket) is not None,
        order_id=match.group(1).upper() if match else None,
        reason=" ".join(ticket.split())[:80],
    )
    return say(triage.model_dump_json())


def _draft(text: str) -> Step:
    brief = json.loads(text)
    facts = str(brief["facts"])
    return answer(f"Hi {brief['customer_name'] or 'there'}, {facts[0].lower()}{facts[1:]}")


def _last_user(messages: list[dict[str, Any]]) -> str:
    return next(str(m.get("content")) for m in reversed(messages) if m.get("role") == "user")
