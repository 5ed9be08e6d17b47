"""Agents that only write an answer, and scripts that play them: a writer (streamed,
unstreamed, or from a local activity), and a chat that echoes each message."""

from __future__ import annotations

from typing import Any

from tether import Agent, AgentRegistry, LlmPolicy
from tether._workflows.context import SUMMARY_PROMPT
from tether.testing import Step, say

# Punctuation, spacing, a line break and non-ASCII: the deltas must join to it exactly.
ANSWER = (
    "Your order A-1003 shipped on Monday — it's  due by Friday.\nSorry for the wait, naïve café ☕"
)
WRITER = Agent(name="writer", instructions="Answer the question.")
QUIET = Agent(name="quiet", instructions="Answer.", llm=LlmPolicy(stream=False))
LOCAL = Agent(name="local-writer", instructions="Answer.", llm=LlmPolicy(local_activity=True))
AGENTS = AgentRegistry([WRITER, QUIET, LOCAL])


def chatter(messages: list[dict[str, Any]]) -> Step:
    """Echo the first word of the latest message; answer a request for a summary."""
    if messages[0]["content"] == SUMMARY_PROMPT:
        return say("summary: the user sent numbered messages; the assistant echoed each.")
    last = next(m for m in reversed(messages) if m["role"] == "user")
    return say(f"echo: {str(last['content']).split()[0]}")
