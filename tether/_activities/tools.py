"""One tool call = one activity: validate the model's arguments, then run the tool.

The same activity runs regular tools and, as a local activity, `fast` ones.
"""

from __future__ import annotations

import asyncio
import inspect

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether import _arguments
from tether._activities.agents import served
from tether._activities.heartbeat import heartbeating
from tether._activities.specs import RecordedSpecs
from tether._agents import AgentRegistry
from tether._limits import PAYLOAD_BUDGET_BYTES
from tether._logs import get_logger
from tether._tools import ToolContext, truncate, unknown_tool
from tether._wire import (
    CHECK_ACTIVITY,
    TOOL_ACTIVITY,
    CheckReply,
    CheckRequest,
    ToolOutcome,
    ToolRequest,
)

log = get_logger("tether.tool")


class ToolActivities:
    def __init__(self, agents: AgentRegistry, specs: RecordedSpecs) -> None:
        self._agents = agents
        self._specs = specs

    @activity.defn(name=TOOL_ACTIVITY)
    async def run_tool(self, request: ToolRequest) -> ToolOutcome:
        """Run one tool call. Unknown tools and bad arguments come back explained, and a
        result over the size limit is truncated before it reaches the history."""
        agent = served(self._agents, request.agent)
        tool = agent.tool(request.call.name)
        if tool is None:  # the workflow checks too, but its spec may predate a deploy
            return unknown_tool(request.call.name, [t.name for t in agent.tools])
        refused = not_approved(request)
        if refused is not None:
            log.warning("tool call refused: not the approved arguments", tool=tool.name)
            return refused
        info = activity.info()
        async with heartbeating() as progress:
            ctx = ToolContext(
                idempotency_key=request.idempotency_key,
                workflow_id=info.workflow_id or "",
                tool_call_id=request.call.id,
                attempt=info.attempt,
                heartbeat=progress.report,
                arguments_digest=arguments_digest(request.call.arguments),
                acting_for=request.acting_for,
                approval=request.approval,
            )
            outcome = await tool.invoke(request.call.arguments, ctx)
        log.info("tool ran", tool=tool.name, error=outcome.error)
        # The limits the run recorded: a deploy must not change them under it.
        spec = await self._specs.resolve(agent, request.digest)
        recorded = spec.tool(tool.name)
        limit = (recorded.max_result_bytes if recorded else None) or spec.max_tool_result_bytes
        return fitted(outcome, limit)

    @activity.defn(name=CHECK_ACTIVITY)
    async def run_check(self, request: CheckRequest) -> CheckReply:
        """Ask an agent's approval check about one call (`check(NAME)` in a rule). A
        check this worker's agent does not register, or one that answers no bool, is
        not retried: the run then asks a person."""
        agent = served(self._agents, request.agent)
        check = agent.approval_checks.get(request.check)
        if check is None:
            raise ApplicationError(
                f"agent {agent.name!r} registers no approval check {request.check!r} here "
                f"(it registers: {', '.join(sorted(agent.approval_checks)) or 'none'})",
                type="UnknownCheck",
                non_retryable=True,
            )
        async with heartbeating():
            if inspect.iscoroutinefunction(check):
                answer = await check(request.call)
            else:
                answer = await asyncio.to_thread(check, request.call)
        if not isinstance(answer, bool):
            raise ApplicationError(
                f"approval check {request.check!r} answered a {type(answer).__name__}, not a bool",
                type="InvalidCheck",
                non_retryable=True,
            )
        log.info("approval check answered", check=request.check, holds=answer)
        return CheckReply(holds=answer)


def arguments_digest(text: str) -> str:
    """The digest of a call's arguments ("" for arguments the tool will refuse anyway)."""
    try:
        return _arguments.digest_of(text)
    except _arguments.ArgumentsError:
        return ""


def not_approved(request: ToolRequest) -> ToolOutcome | None:
    """The refusal of a call whose arguments are not the ones a person approved: the
    digest the decision carries (of the arguments shown), or the decision's own edited
    arguments. The last check before the side effect, on the decision itself, not on
    anything the workflow derived from the call."""
    approval = request.approval
    if approval is None:
        return None
    if approval.arguments is not None:
        expected: str | None = arguments_digest(approval.arguments)
    else:
        expected = approval.digest
    if expected is None or arguments_digest(request.call.arguments) == expected:
        return None  # None: a run recorded before decisions carried a digest
    return ToolOutcome(
        error="rejected",
        content="Error: not done. These arguments are not the ones a person approved.",
    )


def fitted(outcome: ToolOutcome, limit: int) -> ToolOutcome:
    """`outcome` cut to `limit` bytes of UTF-8, and further if its payload would still
    exceed Temporal's limit (JSON escapes some characters to six bytes), unless the
    worker keeps large payloads in an external store."""
    if stores_large_payloads():
        return outcome.model_copy(update={"content": truncate(outcome.content, limit)})
    while True:
        cut = outcome.model_copy(update={"content": truncate(outcome.content, limit)})
        size = len(cut.model_dump_json())
        if size <= PAYLOAD_BUDGET_BYTES:
            return cut
        limit = max(1, int(limit * PAYLOAD_BUDGET_BYTES / size * 0.9))


def stores_large_payloads() -> bool:
    """Whether this worker's client keeps large payloads in a store (a tool tested in an
    `ActivityEnvironment` without a client: no)."""
    try:
        return activity.client().data_converter.external_storage is not None
    except RuntimeError:
        return False
