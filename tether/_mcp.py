"""MCP servers as a source of an agent's tools: where a server is, which of its tools the
agent takes, and the options of each, as `@tool` has them.

    NOTES = McpServer.stdio(
        "notes", [sys.executable, "notes_server.py"],
        options={"add_note": {"side_effects": True, "needs_approval": True}},
    )
    SCRIBE = Agent(name="scribe", instructions="...", mcp=[NOTES])

Declaring a server reads nothing from it: the worker connects when a run first needs its
tools, lists them into the run's record of its agent (so the run replays against the
tools it started with), and calls each as an activity. Connection details (command,
environment, URL, headers) stay in the worker and never enter a run's history.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypedDict, Unpack
from urllib.parse import urlsplit

from tether._deprecation import deprecated
from tether._records import ToolOptionsSpec
from tether._tool_options import ToolOptions, options_record
from tether._version import extra

MCP_EXTRA = extra("mcp")
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=30)
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What chat-completions APIs accept as a function name; other characters become "_".
NOT_IN_A_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class StdioConnection:
    """A server the worker runs as a subprocess, speaking MCP on its stdin and stdout."""

    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None

    def describe(self) -> str:
        # The environment is where a server's secrets go: it is never shown.
        return f"stdio: {shlex.join(self.command)}"


@dataclass(frozen=True)
class HttpConnection:
    """A server at a streamable-HTTP endpoint."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        # Without credentials (userinfo) or the query, where tokens tend to hide.
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"http: {parts.scheme}://{parts.hostname}{port}{parts.path}"


Connection = StdioConnection | HttpConnection


class McpChoices(TypedDict, total=False):
    """What an agent takes from a server, beside where the server is (see `McpServer`)."""

    tools: Sequence[str] | None
    options: Mapping[str, ToolOptions]
    defaults: ToolOptions
    prefix: str
    stateful: bool
    connect_timeout: timedelta
    # Deprecated: Tether 0.1's name.
    connect_timeout_seconds: float


class McpServer:
    """An MCP server whose tools an agent takes (`Agent(mcp=[...])`). Build one with
    `McpServer.stdio` or `McpServer.http`.

    Args:
        name: The agent's name for the server, unique among its servers. Runs record it
            with each tool, so keep it when the server's address changes.
        connection: Where the server is.
        tools: The server's tools the agent takes, by the server's names; None takes
            them all. A run fails at its start, saying so, if the server lacks one.
        options: Per tool (by the server's name), the options `@tool` has:
            side_effects, needs_approval, fast, timeout, heartbeat_timeout, retry,
            max_result_bytes. A side-effecting tool's calls carry their
            idempotency key in the request's `_meta` ("tether/idempotency_key").
        defaults: Options for every tool of the server; `options` override them.
        prefix: Put before each tool's name as the model sees it (e.g. "notes_"), to
            keep two servers' tools apart.
        stateful: The server keeps state in its session that later calls rely on. A run
            is then bound to the session it listed its tools in (its calls run as local
            activities, in the worker that holds the run); if that session is gone (the
            server exited, the run moved to another worker), the call fails without a
            retry (`McpSessionLost`) instead of acting on a fresh, empty session.
        connect_timeout: How long starting or connecting to the server and listing its
            tools may take (default 30 s).
        connect_timeout_seconds: Deprecated: `connect_timeout=timedelta(...)`.
    """

    def __init__(self, name: str, connection: Connection, **choices: Unpack[McpChoices]) -> None:
        _require_mcp()
        if not NAME.match(name):
            raise ValueError(f"MCP server name {name!r}: use 1-64 letters, digits, _ or -")
        self.name = name
        self.connection = connection
        tools = choices.get("tools")
        self.tools = None if tools is None else tuple(tools)
        self.options = dict(choices.get("options") or {})
        self.defaults: ToolOptions = choices.get("defaults") or {}
        self.prefix = choices.get("prefix", "")
        self.stateful = choices.get("stateful", False)
        self.connect_timeout = choices.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        if "connect_timeout_seconds" in choices:
            deprecated("McpServer(connect_timeout_seconds=...)", "connect_timeout=timedelta(...)")
            self.connect_timeout = timedelta(seconds=choices["connect_timeout_seconds"])
        if self.connect_timeout <= timedelta(0):
            raise ValueError(f"MCP server {name!r}: connect_timeout must be positive")
        if self.tools is not None and (unknown := sorted(set(self.options) - set(self.tools))):
            raise ValueError(f"MCP server {name!r}: options for tools not taken: {unknown}")
        for tool in ["", *self.options]:  # refuses bad options now, not in a run
            self.tool_options(tool)

    @classmethod
    def stdio(
        cls,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        **choices: Unpack[McpChoices],
    ) -> McpServer:
        """A server the worker starts as a subprocess (`command` is its argv), with `env`
        added to a minimal environment (PATH, HOME, ...: not the worker's secrets)."""
        if isinstance(command, str) or not command:
            raise ValueError(f"MCP server {name!r}: command is a list, e.g. ['python', 'x.py']")
        connection = StdioConnection(
            command=tuple(command),
            env=tuple(sorted((env or {}).items())),
            cwd=None if cwd is None else str(cwd),
        )
        return cls(name, connection, **choices)

    @classmethod
    def http(
        cls,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **choices: Unpack[McpChoices],
    ) -> McpServer:
        """A server at a streamable-HTTP endpoint (e.g. http://127.0.0.1:8000/mcp),
        sent `headers` (e.g. Authorization) with every request."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"MCP server {name!r}: {url!r} is not an http(s) URL")
        connection = HttpConnection(url=url, headers=tuple(sorted((headers or {}).items())))
        return cls(name, connection, **choices)

    def describe(self) -> str:
        """`notes (stdio: python notes_server.py)`, for logs and errors: no secrets."""
        return f"{self.name} ({self.connection.describe()})"

    def takes(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools

    def model_name(self, tool: str) -> str:
        """The tool's name as the model sees it."""
        return (self.prefix + NOT_IN_A_TOOL_NAME.sub("_", tool))[:64]

    def tool_options(self, tool: str) -> ToolOptionsSpec:
        """The options of the server's tool `tool`: the defaults, then its own."""
        options: ToolOptions = {**self.defaults, **self.options.get(tool, {})}
        what = f"MCP server {self.name!r}, tool {tool!r}" if tool else f"MCP server {self.name!r}"
        return options_record(what, options)


def _require_mcp() -> None:
    try:
        import jsonschema  # noqa: F401
        import mcp  # noqa: F401
    except ImportError:
        raise ImportError(f"MCP servers need Tether's `mcp` extra: {MCP_EXTRA}") from None
