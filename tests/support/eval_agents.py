"""A small agent and its evaluator for the evaluation tests that run real processes
(`tether worker --agents tests.support.eval_agents:REGISTRY`, `tether eval ... --evaluators
tests.support.eval_agents`): it notes a case down, which a person approves first."""

from __future__ import annotations

import os
import re
import sqlite3
from typing import Any

from tether import Agent, AgentRegistry, ToolContext, tool
from tether.evals import CaseRun, evaluator
from tether.testing import Slow, Step, call_tools, say

NOTER = "eval-noter"
# Each model reply waits this long: an evaluation of fifty cases then runs long enough
# to be killed half-way.
REPLY_SECONDS = 0.25


@tool(side_effects=True, needs_approval=True)
def note(ctx: ToolContext, case: int) -> str:
    """Note a case down."""
    with sqlite3.connect(os.environ["EVAL_NOTES_DB"], timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS notes (number INTEGER, key TEXT UNIQUE)")
        db.execute(  # once per call, however often the activity runs
            "INSERT INTO notes VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (case, ctx.idempotency_key),
        )
    return f"noted case {case}"


NOTE_TAKER = Agent(name=NOTER, instructions="Note the case the user names.", tools=[note])
REGISTRY = AgentRegistry([NOTE_TAKER])


def case_number(messages: list[dict[str, Any]]) -> int:
    asked = next(m["content"] for m in messages if m["role"] == "user")
    return int(re.findall(r"\d+", asked)[0])


def noter(messages: list[dict[str, Any]]) -> Step:
    """Note the case (a call that waits for a person), then say what happened."""
    number = case_number(messages)
    done = [m["content"] for m in messages if m["role"] == "tool"]
    if not done:
        return Slow(REPLY_SECONDS, call_tools(("note", {"case": number})))
    return Slow(REPLY_SECONDS, say(f"case {number}: {done[-1]}"))


@evaluator
def noted_as_decided(run: CaseRun) -> bool:
    """Noted once when its policy approves, never when it rejects."""
    want = 0 if run.metadata.get("approvals") == "reject" else 1
    return len(run.called("note")) == want and run.status == "completed"
