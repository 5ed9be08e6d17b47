"""Calling a tool of an MCP server: one activity per call, on the tool as the run recorded
it (see mcp_listing.py). The call goes through the seam every tool has: the model's
arguments are checked against the server's input schema before the call, a tool's error
result (`isError`) goes back to the model, a failed transport is raised for Temporal to
retry (on a new session), and a side-effecting tool's calls carry their idempotency key
in the request's `_meta`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether import _arguments
from tether._activities.agents import served
from tether._activities.heartbeat import heartbeating
from tether._activities.mcp_listing import unavailable
from tether._activities.mcp_sessions import McpSessions, SessionGone
from tether._activities.specs import RecordedSpecs
from tether._activities.tools import not_approved
from tether._agents import AgentRegistry
from tether._logs import get_logger
from tether._mcp import McpServer
from tether._records import McpTarget, ToolSpec
from tether._tools import invalid_arguments, malformed_arguments, truncate, unknown_tool
from tether._wire import MCP_TOOL_ACTIVITY, ToolOutcome, ToolRequest

if TYPE_CHECKING:
    from mcp.types import CallToolResult, ContentBlock

# Blocks of a tool result that are read: a server may answer with any number.
MAX_RESULT_BLOCKS = 256
log = get_logger("tether.mcp")

# Where a side-effecting call's idempotency key goes in the request's `_meta` (a
# prefixed key, as MCP asks of keys outside its own `io.modelcontextprotocol/`).
IDEMPOTENCY_META_KEY = "tether/idempotency_key"
SHOWN_SCHEMA_ERRORS = 5


class McpActivities:
    def __init__(self, agents: AgentRegistry, specs: RecordedSpecs, sessions: McpSessions) -> None:
        self._agents = agents
        self._specs = specs
        self._sessions = sessions

    @activity.defn(name=MCP_TOOL_ACTIVITY)
    async def call_mcp_tool(self, request: ToolRequest) -> ToolOutcome:
        """Call one tool of an MCP server, as the run recorded it."""
        agent = served(self._agents, request.agent)
        spec = await self._specs.resolve(agent, request.digest)
        tool = spec.tool(request.call.name)
        if tool is None or tool.mcp is None:
            return unknown_tool(request.call.name, [t.name for t in spec.tools])
        target = tool.mcp
        server = agent.mcp_server(target.server)
        if server is None:
            raise ApplicationError(
                f"the run's tool {tool.name!r} comes from MCP server {target.server!r}, "
                f"which agent {agent.name!r} no longer has in this worker",
                type="McpServerRemoved",
                non_retryable=True,
            )
        arguments = not_approved(request) or checked_arguments(tool, request.call.arguments)
        if isinstance(arguments, ToolOutcome):
            return arguments
        meta = {IDEMPOTENCY_META_KEY: request.idempotency_key} if tool.side_effects else None
        limit = tool.max_result_bytes or spec.max_tool_result_bytes
        async with heartbeating():
            outcome = await self._call(server, target, arguments, meta, limit)
        log.info("mcp tool ran", server=server.name, tool=target.tool, error=outcome.error)
        return outcome.model_copy(update={"content": truncate(outcome.content, limit)})

    async def _call(
        self,
        server: McpServer,
        target: McpTarget,
        arguments: dict[str, Any],
        meta: dict[str, Any] | None,
        limit: int,
    ) -> ToolOutcome:
        from mcp.shared.exceptions import MCPError
        from mcp.types import INVALID_PARAMS, METHOD_NOT_FOUND

        try:
            session = await self._sessions.session(server)
            if target.session is not None and session.id != target.session:
                raise SessionGone(f"this worker's session is {session.id}")
            result = await session.call_tool(target.tool, arguments, meta)
        except SessionGone as e:
            if target.session is not None:
                raise session_lost(server, target.session, str(e)) from None
            raise unavailable(server, f"is unreachable: {e}") from None
        except MCPError as e:
            if e.code in (INVALID_PARAMS, METHOD_NOT_FOUND):  # the call, not the server
                return ToolOutcome(
                    error="tool_error",
                    content=f"Error: {server.name} refused the call: {e.message}",
                )
            raise ApplicationError(
                f"MCP server {server.describe()} failed the call: {e.message}", type="McpError"
            ) from None
        return outcome_of(result, limit)


def checked_arguments(tool: ToolSpec, text: str) -> dict[str, Any] | ToolOutcome:
    """The model's arguments if they match the tool's input schema, else the explanation
    for the model (the server is not called)."""
    from jsonschema.validators import validator_for

    try:
        value = _arguments.loads(text)
    except json.JSONDecodeError as e:
        return malformed_arguments(tool.name, e)
    except _arguments.ArgumentsError as e:
        return invalid_arguments(tool.name, str(e))
    if not isinstance(value, dict):
        return invalid_arguments(tool.name, "send a JSON object")
    schema = tool.parameters or {"type": "object"}
    errors = sorted(validator_for(schema)(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}"
            for e in errors[:SHOWN_SCHEMA_ERRORS]
        )
        return invalid_arguments(tool.name, problems)
    return value


def outcome_of(result: CallToolResult, limit: int) -> ToolOutcome:
    """A tool result for the model: its text (read up to `limit` characters, of at most
    MAX_RESULT_BLOCKS blocks, then cut to `limit` bytes by the caller), and `isError`
    as the call's error."""
    parts: list[str] = []
    size = 0
    for block in result.content[:MAX_RESULT_BLOCKS]:
        if size > limit:
            break
        parts.append(_text(block))
        size += len(parts[-1]) + 1
    if len(result.content) > len(parts):
        parts.append(f"[{len(result.content) - len(parts)} more content blocks, not shown]")
    text = "\n".join(parts)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content)[: limit + 1]
    if result.is_error:
        return ToolOutcome(error="tool_error", content=f"Error: {text or 'the tool failed'}")
    return ToolOutcome(content=text)


def _text(block: ContentBlock) -> str:
    """Text as it is; anything else named, since the model is sent text only."""
    from mcp.types import EmbeddedResource, ResourceLink, TextContent, TextResourceContents

    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, EmbeddedResource):
        resource = block.resource
        if isinstance(resource, TextResourceContents):
            return resource.text
        return f"[resource {resource.uri} ({resource.mime_type or 'binary'}), not shown]"
    if isinstance(block, ResourceLink):
        return f"[resource link: {block.uri}]"
    return f"[{block.type} ({block.mime_type}), not shown]"


def session_lost(server: McpServer, recorded: str, why: str) -> ApplicationError:
    return ApplicationError(
        f"MCP server {server.describe()} is stateful, and the session {recorded} this run "
        f"listed its tools in is gone ({why}); its state cannot be had again, so the call "
        "is not retried",
        type="McpSessionLost",
        non_retryable=True,
    )
