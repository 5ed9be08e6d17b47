"""One tool call as an activity (workflow code): a `fast` tool runs as a local activity,
any other as a regular activity that heartbeats, so a cancelled run can cancel it; a tool
from an MCP server runs in an activity of its own type (`tether.mcp_tool`), the same
way. Infrastructure errors are retried by Temporal per the tool's retry policy; once the
retries run out the model is told the tool is unavailable."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from tether._failures import root_type
    from tether._records import ToolSpec
    from tether._visibility import call_summary
    from tether._wire import MCP_TOOL_ACTIVITY, TOOL_ACTIVITY, ToolOutcome, ToolRequest

from tether._workflows.activity_calls import DEFAULT_HEARTBEAT_TIMEOUT_SECONDS, execute
from tether._workflows.generations import tool_unavailable_told
from tether._workflows.logs import log

RETRIES_RAN_OUT = (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT)


async def execute_tool(tool: ToolSpec, request: ToolRequest, *, local: bool = True) -> ToolOutcome:
    """One tool call as an activity: a local one if the tool is `fast` and `local`. If
    its retries run out (a backend down for longer than the tool's retry policy), the
    model is told the tool is unavailable; a non-retryable error still fails the run
    (the tool said no retry can help)."""
    try:
        return await _execute_tool(tool, request, local=local)
    except ActivityError as e:
        if e.retry_state not in RETRIES_RAN_OUT or not tool_unavailable_told():
            raise
        # The error's type only: its message may quote a customer or a secret, and the
        # model's provider is not to see it (history and `tether status` have it).
        kind = root_type(e)
        log.warning("tool unavailable", extra={"tool": tool.name, "error": kind})
        return ToolOutcome(
            error="unavailable",
            content=f"Error: the tool {tool.name} is unavailable right now; it kept failing "
            f"after {tool.retry.max_attempts or 'many'} attempts ({kind}). Nothing was done. "
            "Go on without it, or tell the user to try again later.",
        )


async def _execute_tool(tool: ToolSpec, request: ToolRequest, *, local: bool) -> ToolOutcome:
    heartbeat = tool.heartbeat_timeout_seconds or DEFAULT_HEARTBEAT_TIMEOUT_SECONDS
    shown = call_summary(request.call.name, request.call.arguments)
    summary = f"tool {shown}" if tool.mcp is None else f"mcp {tool.mcp.server}: {shown}"
    return await execute(
        TOOL_ACTIVITY if tool.mcp is None else MCP_TOOL_ACTIVITY,
        request,
        result_type=ToolOutcome,
        local=runs_locally(tool, local=local),
        start_to_close=timedelta(seconds=tool.timeout_seconds),
        heartbeat=timedelta(seconds=heartbeat),
        retry=tool.retry.to_policy(),
        summary=summary,
        # Wait for the tool to acknowledge a cancellation, so a cancelled run ends only
        # after its tools have stopped (not while a refund is half done).
        cancellation=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )


def runs_locally(tool: ToolSpec, *, local: bool) -> bool:
    """Whether a call of `tool` runs as a local activity: a `fast` tool's when `local`
    allows it; a stateful MCP server's always, as its calls must run where its session
    is (which an update arriving meanwhile may make unreplayable; see the docs' Workers
    page)."""
    return tool.fast and (local or (tool.mcp is not None and tool.mcp.session is not None))
