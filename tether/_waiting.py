"""The built-in `wait` tool: the agent pauses for hours or days ("check the carrier again
in 2 days") on a durable timer.

Add `WAIT` to an agent's tools. The model sees it like any tool (its schema is built in
the worker), but the workflow intercepts calls to it and sleeps with `workflow.sleep`:
no activity and no worker is busy while it waits, and the wait survives restarts.
The arguments are validated like any tool's, so a bad call is explained to the model.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tether._tools import Tool

MAX_WAIT_DAYS = 30
MAX_WAIT_HOURS = MAX_WAIT_DAYS * 24


class WaitArgs(BaseModel):
    hours: float = Field(
        gt=0,
        le=MAX_WAIT_HOURS,
        description=f"How long to wait, in hours (at most {MAX_WAIT_HOURS}, {MAX_WAIT_DAYS} days).",
    )
    reason: str = Field(
        min_length=1, description="What you will do after waiting, e.g. 'check the carrier'."
    )


def wait(args: WaitArgs) -> str:
    """Pause this conversation for a while, then continue where you left off. Use it to
    check on something later, e.g. a delivery or a payment, instead of asking the user."""
    raise RuntimeError("wait runs in the workflow as a durable timer, never as an activity")


WAIT = Tool(wait).builtin("wait")
"""The built-in `wait` tool: add it to an agent's tools and the model can pause the run
for up to 30 days (`wait(hours, reason)`) on a durable timer."""
