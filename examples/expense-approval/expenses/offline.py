"""The pipeline's agents played without a model, for the tests and an offline worker:
`tether worker --agents expenses.agents:REGISTRY --offline expenses.offline:SCRIPTS`."""

import re
from typing import Any

from expenses.models import CATEGORIES, DESK, LIMIT, READER, REVIEWER, Claim
from tether.testing import Step, call_tools, say

CLAIM = re.compile(r"(.+?) spent \$([\d.]+) on (\w+): (.+)")


def read_claim(messages: list[dict[str, Any]]) -> Step:
    """The claim in the user's message ("Ada spent $42.50 on meals: lunch"), as JSON."""
    found = CLAIM.fullmatch(messages[-1]["content"])
    if found is None:
        return say("That is not an expense claim.")  # invalid: the step asks again
    employee, amount, category, description = found.groups()
    claim = Claim(
        employee=employee,
        amount=float(amount),
        category=category if category in CATEGORIES else "other",
        description=description,
    )
    return say(claim.model_dump_json())


def review(messages: list[dict[str, Any]]) -> Step:
    """A business expense when it was for a client."""
    task = messages[-1]["content"]
    return say("Yes: it was for a client." if "client" in task else "No: nothing says why.")


def decide(messages: list[dict[str, Any]]) -> Step:
    """The desk agent: the rules the pipeline follows in code, then one payment."""
    found = CLAIM.fullmatch(next(m["content"] for m in messages if m["role"] == "user"))
    if found is None:
        return say("refused: that is not an expense claim.")
    employee, amount, category, description = found.groups()
    paid = [m["content"] for m in messages if m["role"] == "tool"]
    if paid:
        declined = "reject" in paid[-1].lower()
        return say(f"rejected: {paid[-1]}" if declined else f"paid: {paid[-1]}")
    if float(amount) > LIMIT:
        return say(f"refused: ${amount} is over the ${LIMIT:,.0f} limit.")
    if category not in CATEGORIES and "client" not in description:
        return say("refused: nothing says it was a business expense.")
    return call_tools(("pay_expense", {"employee": employee, "amount": float(amount)}))


SCRIPTS = {READER: read_claim, REVIEWER: review, DESK: decide}
