"""Listing an agent's MCP tools, once per run, into its record of the agent.

`tether.describe_agent` calls this when a run starts, and the run's history keeps the
result: replay reads that record and never asks a server, so a server that changes its
tools later cannot break a run's replay, and later calls act on the tools as listed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio.exceptions import ApplicationError

from tether._activities.mcp_sessions import McpSessions, SessionGone
from tether._agents import Agent
from tether._mcp import McpServer
from tether._records import McpTarget, ToolSpec

if TYPE_CHECKING:
    from mcp.types import Tool


async def listed_tools(agent: Agent, sessions: McpSessions) -> list[ToolSpec]:
    """The tools the agent takes from its MCP servers, as the servers list them now."""
    listed = await asyncio.gather(*(_server_tools(server, sessions) for server in agent.mcp))
    specs = [spec for server_specs in listed for spec in server_specs]
    names = [t.name for t in agent.tools] + [s.name for s in specs]
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
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as e:
        raise ApplicationError(
            f"MCP server {server.describe()}: tool {tool.name!r} has an invalid input "
            f"schema ({e.message})",
            type="McpToolsInvalid",
            non_retryable=True,
        ) from None
    options = server.tool_options(tool.name).model_dump()
    if server.stateful:
        # In the worker that holds the run, where the session the run listed is.
        options["fast"] = True
    return ToolSpec(
        name=server.model_name(tool.name),
        description=tool.description or tool.title or "",
        parameters=schema,
        strict=False,
        mcp=McpTarget(server=server.name, tool=tool.name, session=session),
        **options,
    )


def unavailable(server: McpServer, why: str) -> ApplicationError:
    """Retryable: the next attempt starts a new session."""
    return ApplicationError(f"MCP server {server.describe()} {why}", type="McpServerUnavailable")
