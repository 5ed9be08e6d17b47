"""The agents this project serves: `tether worker --agents myapp.catalog:REGISTRY`."""

from myapp.tools import close_issue, find_issue
from tether import Agent, AgentRegistry

TRIAGE = Agent(
    name="issue-triage",
    instructions=(
        "You triage issues. Look each issue up before acting on it, and close an issue "
        "only as a duplicate of an open one."
    ),
    tools=[find_issue, close_issue],
)


REGISTRY = AgentRegistry([TRIAGE])
