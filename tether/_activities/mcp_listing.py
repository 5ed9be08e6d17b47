"""Listing an agent's MCP tools, once per run, into its record of the agent.

`tether.describe_agent` calls this when a run starts, and the run's history keeps the
result: replay reads that record and never asks a server, so a server that changes its
tools later cannot break a run's replay, and later calls act on the tools as listed.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from temporalio.exceptions import ApplicationError

from tether._activities.mcp_sessions import McpSessions, SessionGone, TooManyTools
from tether._agents import Agent
from tether._events import cut
from tether._mcp import McpServer
from tether._records import McpTarget, ToolSpec

if TYPE_CHECKING:
    from mcp.types import Tool

# What chat-completions APIs take in one request (OpenAI's limit).
MAX_TAKEN_TOOLS = 128
# What one listed tool may bring into the run's record of its agent (one payload).
MAX_SCHEMA_CHARS = 32 * 1024
MAX_DESCRIPTION_CHARS = 4_000


async def listed_tools(agent: Agent, sessions: McpSessions) -> list[ToolSpec]:
    """The tools the agent takes from its MCP servers, as the servers list them now."""
    listed = await asyncio.gather(*(_server_tools(server, sessions) for server in agent.mcp))
    specs = [spec for server_specs in listed for spec in server_specs]
    names = [t.name for t in agent.tools] + [s.name for s in specs]
    if len(names) > MAX_TAKEN_TOOLS:
        raise ApplicationError(
            f"agent {agent.name!r} would take {len(names)} tools from its MCP servers and "
            f"its own, over the {MAX_TAKEN_TOOLS} a model is sent: take the ones it needs "
            "with tools=[...]",
            type="McpToolsInvalid",
            non_retryable=True,
        )
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ApplicationError(
            f"agent {agent.name!r}: its MCP servers offer tools named like others it has: "
            f"{clashes}; leave them out with `tools=` or give a server a `prefix=`",
            type="McpToolsInvalid",
            non_retryable=True,
        )
    return specs


async def _server_tools(server: McpServer, sessions: McpSessions) -> list[ToolSpec]:
    try:
        session = await sessions.session(server)
        tools = await session.list_tools()
    except SessionGone as e:
        raise unavailable(server, f"did not start or answer: {e}") from None
    except TooManyTools as e:
        raise invalid(server, f"{e}: take the ones the agent needs with tools=[...]") from None
    offered = {t.name for t in tools}
    missing = [name for name in server.tools or () if name not in offered]
    if missing:
        raise ApplicationError(
            f"MCP server {server.describe()} does not offer {missing}, which the agent "
            f"takes (it offers: {sorted(offered)})",
            type="McpToolsInvalid",
            non_retryable=True,
        )
    return [
        _spec(server, tool, session.id if server.stateful else None)
        for tool in tools
        if server.takes(tool.name)
    ]


def _spec(server: McpServer, tool: Tool, session: str | None) -> ToolSpec:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    schema = tool.input_schema
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        raise invalid(
            server, f"tool {tool.name!r} has an input schema over {MAX_SCHEMA_CHARS:,} characters"
        )
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as e:
        raise invalid(
            server, f"tool {tool.name!r} has an invalid input schema ({e.message})"
        ) from None
    options = server.tool_options(tool.name).model_dump()
    if server.stateful:
        # In the worker that holds the run, where the session the run listed is.
        options["fast"] = True
    return ToolSpec(
        name=server.model_name(tool.name),
        description=cut(tool.description or tool.title or "", MAX_DESCRIPTION_CHARS),
        parameters=schema,
        strict=False,
        mcp=McpTarget(server=server.name, tool=tool.name, session=session),
        **options,
    )


def invalid(server: McpServer, why: str) -> ApplicationError:
    """Not retried: the server's listing is what it is."""
    return ApplicationError(
        f"MCP server {server.describe()}: {why}", type="McpToolsInvalid", non_retryable=True
    )


def unavailable(server: McpServer, why: str) -> ApplicationError:
    """Retryable: the next attempt starts a new session."""
    return ApplicationError(f"MCP server {server.describe()} {why}", type="McpServerUnavailable")
