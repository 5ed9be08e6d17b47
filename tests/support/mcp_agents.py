"""Agents that take their tools from the test MCP server (tests/support/mcp_server.py),
and the calls that reached it, read off its log.

`REGISTRY` is for worker processes (`tether worker --agents tests.support.mcp_agents:REGISTRY`):
it reads where the server is from the environment, NOTES_URL (streamable HTTP) or else
NOTES_DIR (a stdio server of the worker's own, keeping its notes there).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Unpack

from tether import Agent, AgentRegistry, McpServer
from tether._mcp import McpChoices
from tether._tool_options import ToolOptions

SERVER = Path(__file__).with_name("mcp_server.py")
NAME = "notetaker"
SIDE_EFFECTS = {"add_note": ToolOptions(side_effects=True)}


def stdio_notes(notes: Path, version: str = "1", **choices: Unpack[McpChoices]) -> McpServer:
    """The test server as a subprocess of the worker, keeping its notes in `notes`."""
    return McpServer.stdio(
        "notes",
        [sys.executable, str(SERVER)],
        env={"NOTES_DIR": str(notes), "NOTES_VERSION": version},
        **choices,
    )


def http_notes(url: str, **choices: Unpack[McpChoices]) -> McpServer:
    return McpServer.http("notes", url, **choices)


def notetaker(server: McpServer) -> Agent:
    return Agent(name=NAME, instructions="Keep the user's notes.", mcp=[server])


def calls(notes: Path, tool: str = "add_note", event: str = "started") -> list[dict[str, Any]]:
    """The calls of `tool` that reached the server, as it logged them."""
    log = notes / "calls.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [c for c in map(json.loads, lines) if c["tool"] == tool and c["event"] == event]


def _from_env() -> AgentRegistry:
    url = os.environ.get("NOTES_URL")
    if url:
        return AgentRegistry([notetaker(http_notes(url, options=SIDE_EFFECTS))])
    notes = os.environ.get("NOTES_DIR")
    if notes:
        return AgentRegistry([notetaker(stdio_notes(Path(notes), options=SIDE_EFFECTS))])
    return AgentRegistry([])


REGISTRY = _from_env()
