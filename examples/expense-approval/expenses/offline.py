"""The pipeline's agents played without a model, for the tests and an offline worker:
`tether worker --agents expenses.agents:REGISTRY --offline expenses.offline:SCRIPTS`."""

import re
from typing import Any

from expenses.models import CATEGORIES, READER, REVIEWER, Claim
from tether.testing import Step, say

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


SCRIPTS = {READER: read_claim, REVIEWER: review}
