"""A real MCP server for the tests, written with the `mcp` package (its FastMCP, called
`MCPServer` since mcp 2): a notebook whose notes live in a SQLite file.

    python tests/support/mcp_server.py               # stdio
    python tests/support/mcp_server.py http PORT     # streamable HTTP on 127.0.0.1:PORT/mcp

Its state is in NOTES_DIR (a test's tmp_path): notes.db, with each note's idempotency
key under a unique constraint, so a repeated call returns the note it wrote instead of
writing another; calls.jsonl, one line per call as it starts (tool, key, pid) and per
call cancelled, for the tests to see what reached the server; and `hang-once`, a file
whose presence makes the next `add_note` write its note and then hang (deleting the
file), so a test can kill something mid-call and the retry goes through.
NOTES_VERSION=2 serves a changed tool list: `find_note` is renamed `get_note`;
NOTES_VERSION=flood adds 300 tools of no use and `dump`, which answers with a flood of
content blocks.
NOTES_FAILING=1 adds two tools that answer with JSON-RPC errors: `count_notes` an
internal error while a file `fail-once` is there (deleting it), `forget_note` an
invalid-params error always.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, TextContent

IDEMPOTENCY_META_KEY = "tether/idempotency_key"  # what Tether sends; see mcp_tools.py
HANG_SECONDS = 30  # bounded, so an orphaned server ends by itself

STATE = Path(os.environ["NOTES_DIR"])
VERSION = os.environ.get("NOTES_VERSION", "1")
server = MCPServer("notes")


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(STATE / "notes.db", isolation_level=None)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT, key TEXT UNIQUE)"
    )
    return conn


def record_call(tool: str, ctx: Context, event: str = "started") -> str | None:
    meta = ctx.request_context.meta or {}
    key = meta.get(IDEMPOTENCY_META_KEY)
    assert key is None or isinstance(key, str)
    line = {"tool": tool, "event": event, "key": key, "pid": os.getpid()}
    with (STATE / "calls.jsonl").open("a") as log:
        log.write(json.dumps(line) + "\n")
    return key


@server.tool()
async def add_note(text: str, ctx: Context) -> str:
    """Write a note in the notebook; returns its number."""
    key = record_call("add_note", ctx)
    with db() as conn:
        found = conn.execute("SELECT id FROM notes WHERE key = ?", (key,)).fetchone()
        if key is not None and found:
            return f"note {found[0]} (written before)"
        number = conn.execute("INSERT INTO notes (text, key) VALUES (?, ?)", (text, key)).lastrowid
    hang = STATE / "hang-once"
    if hang.exists():
        hang.unlink()
        try:
            await asyncio.sleep(HANG_SECONDS)
        except asyncio.CancelledError:  # the client cancelled the request
            record_call("add_note", ctx, "cancelled")
            raise
    return f"note {number}"


@server.tool()
def list_notes(ctx: Context) -> str:
    """Every note, one per line."""
    record_call("list_notes", ctx)
    with db() as conn:
        rows = conn.execute("SELECT id, text FROM notes ORDER BY id").fetchall()
    return "\n".join(f"{number}. {text}" for number, text in rows) or "(no notes)"


def find(number: int, ctx: Context) -> str:
    record_call("find_note", ctx)
    with db() as conn:
        row = conn.execute("SELECT text FROM notes WHERE id = ?", (number,)).fetchone()
    if row is None:
        raise ToolError(f"there is no note {number}")
    return str(row[0])


if VERSION == "1":
    server.tool(name="find_note", description="The text of note `number`.")(find)
else:
    server.tool(name="get_note", description="The text of note `number` (v2).")(find)


if VERSION == "flood":
    for i in range(300):
        server.tool(name=f"noise_{i}", description="Of no use.")(lambda: "noise")

    @server.tool()
    def dump(blocks: int) -> list[TextContent]:
        """Answer with `blocks` content blocks of a kilobyte each."""
        return [TextContent(type="text", text=f"{i:04d}" + "x" * 1020) for i in range(blocks)]


def count_notes(ctx: Context) -> str:
    """How many notes there are."""
    record_call("count_notes", ctx)
    fail = STATE / "fail-once"
    if fail.exists():
        fail.unlink()
        raise MCPError(code=INTERNAL_ERROR, message="the notebook is being reindexed")
    with db() as conn:
        return str(conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0])


def forget_note(number: int, ctx: Context) -> str:
    """Forget note `number`."""
    record_call("forget_note", ctx)
    raise MCPError(code=INVALID_PARAMS, message=f"note {number} cannot be forgotten")


if os.environ.get("NOTES_FAILING") == "1":
    server.tool()(count_notes)
    server.tool()(forget_note)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
