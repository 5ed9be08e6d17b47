"""The agents this project serves: `tether worker --agents myapp.catalog:REGISTRY`."""

import re
from typing import Any

from myapp.tools import close_issue, find_issue
from tether import Agent, AgentRegistry
from tether.testing import Step, call_tools, say

TRIAGE = Agent(
    name="issue-triage",
    instructions=(
        "You triage issues. Look each issue up before acting on it, and close an issue "
        "only as a duplicate of an open one."
    ),
    tools=[find_issue, close_issue],
)


def triage_script(messages: list[dict[str, Any]]) -> Step:
    """Plays the agent without a model (the offline worker, and tests)."""
    asked = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    number, duplicate_of = (int(n) for n in re.findall(r"#(\d+)", asked)[:2])
    done = [m["content"] for m in messages if m["role"] == "tool"]
    if not done:
        return call_tools(("find_issue", {"number": number}))
    if len(done) == 1:
        return call_tools(("close_issue", {"number": number, "duplicate_of": duplicate_of}))
    return say(f"#{number}: {done[-1]}")


REGISTRY = AgentRegistry([TRIAGE], scripts={TRIAGE.name: triage_script})
