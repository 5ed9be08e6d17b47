"""One tool call = one activity: validate the model's arguments, then run the tool.

The same activity runs regular tools and, as a local activity, `fast` ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity

from tether.agents import AgentRegistry
from tether.seam import TOOL_ACTIVITY, ToolOutcome, ToolRequest
from tether.tools import ToolContext, truncate, unknown_tool


class ToolActivities:
    def __init__(self, agents: AgentRegistry) -> None:
        self._agents = agents

    @activity.defn(name=TOOL_ACTIVITY)
    async def run_tool(self, request: ToolRequest) -> ToolOutcome:
        """Run one tool call. Unknown tools and bad arguments come back explained, and a
        result over the size limit is truncated before it reaches the history."""
        agent = self._agents.get(request.agent)
        tool = agent.tool(request.call.name)
        if tool is None:  # the workflow checks too, but its spec may predate a deploy
            return unknown_tool(request.call.name, [t.name for t in agent.tools])
        info = activity.info()
        async with heartbeating() as progress:
            ctx = ToolContext(
                idempotency_key=request.idempotency_key,
                workflow_id=info.workflow_id or "",
                tool_call_id=request.call.id,
                attempt=info.attempt,
                heartbeat=progress.report,
            )
            outcome = await tool.invoke(request.call.arguments, ctx)
        limit = tool.max_result_bytes or agent.max_tool_result_bytes
        return outcome.model_copy(update={"content": truncate(outcome.content, limit)})


class _Progress:
    """The details a tool last reported; the heartbeat loop sends them."""

    def __init__(self) -> None:
        self.details: tuple[Any, ...] = ()

    def report(self, *details: Any) -> None:
        # Only stores: safe from a sync tool's thread, sent by the loop below.
        self.details = details


@asynccontextmanager
async def heartbeating() -> AsyncIterator[_Progress]:
    """Heartbeat while the body runs, at a third of the heartbeat timeout.

    Heartbeats tell Temporal the worker is alive (a lost worker's attempt is retried after
    the heartbeat timeout, not the whole start-to-close timeout) and bring back a
    cancellation request, which the SDK delivers as `asyncio.CancelledError`. Local
    activities cannot heartbeat; their cancellation is delivered in-process.
    """
    progress = _Progress()
    info = activity.info()
    if info.is_local or info.heartbeat_timeout is None:
        yield progress
        return
    interval = info.heartbeat_timeout.total_seconds() / 3

    async def beat() -> None:
        while True:
            activity.heartbeat(*progress.details)
            await asyncio.sleep(interval)

    beating = asyncio.create_task(beat())
    try:
        yield progress
    finally:
        beating.cancel()
