"""The agent's tools: one reads, one closes an issue (a side effect a person approves)."""

import os
import sqlite3

from pydantic import BaseModel

from tether import ToolContext, ToolError, tool

ISSUES = {
    7: "Crash when the config file is empty",
    12: "App crashes on an empty config",
    15: "Dark mode",
}


class Issue(BaseModel):
    number: int
    title: str
    closed: bool


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(os.environ.get("ISSUES_DB", "issues.db"), timeout=30)
    db.execute(
        "CREATE TABLE IF NOT EXISTS closed (number INTEGER, duplicate_of INTEGER,"
        " idempotency_key TEXT UNIQUE)"
    )
    return db


@tool(fast=True)
def find_issue(number: int) -> Issue:
    """Look an issue up by its number: its title and whether it is closed."""
    if number not in ISSUES:
        raise ToolError(f"there is no issue #{number}")  # the model is told, and may retry
    with _db() as db:
        closed = db.execute("SELECT 1 FROM closed WHERE number = ?", (number,)).fetchone()
    return Issue(number=number, title=ISSUES[number], closed=closed is not None)


@tool(side_effects=True, needs_approval=True)
def close_issue(ctx: ToolContext, number: int, duplicate_of: int) -> str:
    """Close an issue as a duplicate of another one."""
    with _db() as db:  # the key makes a retried call a no-op: it closes the issue once
        db.execute(
            "INSERT INTO closed VALUES (?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
            (number, duplicate_of, ctx.idempotency_key),
        )
    return f"closed #{number} as a duplicate of #{duplicate_of}"
