"""What the pipeline and its agents share: pure definitions, no I/O at import (the
workflow's module imports this one, and Temporal's sandbox re-imports both)."""

from pydantic import BaseModel

READER = "expense-reader"
CLERK = "expense-clerk"
REVIEWER = "expense-reviewer"
DESK = "expense-desk"  # the whole process as one agent
CATEGORIES = ("travel", "meals", "equipment")  # anything else is reviewed first
APPROVAL_ABOVE = 100.0  # a person approves larger claims
LIMIT = 5_000.0  # never paid


class Claim(BaseModel):
    """An expense claim, as the reader step's structured answer."""

    employee: str
    amount: float
    category: str
    description: str
