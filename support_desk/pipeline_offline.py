"""The offline scripted model's part in the refund pipeline: its two LLM steps, and the
judge model of the refund's approval policy.

Like the support desk's script it reads the request alone, so its answers are the same
for the same ticket: the triage step finds the order id and a refund wish in the words
the support desk script looks for; the writer turns the pipeline's facts into a reply;
the judge approves a refund whose reason names damage (broken, damaged, faulty, not as
described) and refuses any other.
"""

from __future__ import annotations

import json
import re
from typing import Any

from support_desk.offline import ORDER_ID, WANTS_REFUND, answer
from tether.testing import Step, say
from workflows.refund_pipeline_types import Triage


def triage_responder(messages: list[dict[str, Any]]) -> Step:
    """The triage step's answer for the ticket in `messages`."""
    return _triage(_last_user(messages))


def draft_responder(messages: list[dict[str, Any]]) -> Step:
    """The writer's reply from the facts in `messages`."""
    return _draft(_last_user(messages))


# The reasons the shop refunds for (activities/refund_policy.py).
DAMAGE = re.compile(r"broken|damaged|faulty|not as described", re.IGNORECASE)


def judge_responder(messages: list[dict[str, Any]]) -> Step:
    """The refund judge's verdict on the call in `messages`."""
    question = json.loads(_last_user(messages))
    reason = str(question["arguments"].get("reason", ""))
    amount = question["context"].get("amount")
    if DAMAGE.search(reason):
        verdict = {"verdict": "approve", "reasoning": f"The customer reports damage: {reason}"}
    else:
        verdict = {
            "verdict": "refuse",
            "reasoning": f"No damage is reported for this ${amount} refund: {reason}",
        }
    return say(json.dumps(verdict))


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
