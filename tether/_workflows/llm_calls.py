"""An agent's spec and one model call, as activities (workflow code).

Shared by AgentWorkflow's loop and the refund pipeline's LLM steps, so both call the
model through the same activity, timeouts, retries and structured-output checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeout

from tether._workflows.activity_calls import DEFAULT_HEARTBEAT_TIMEOUT_SECONDS, execute
from tether._workflows.events import RunEvents
from tether._workflows.generations import real_models

with workflow.unsafe.imports_passed_through():
    from tether._events import Reply, TextDelta
    from tether._messages import Message
    from tether._records import AgentSpec
    from tether._wire import DESCRIBE_AGENT_ACTIVITY, LLM_ACTIVITY, LlmReply, LlmRequest


# Why a run cannot start, as its failure says it.
STARTS_NOT = ("UnknownAgent", "McpServerUnavailable", "McpToolsInvalid")


async def describe_agent(name: str, *, local: bool = True) -> AgentSpec:
    """The agent's spec from the worker, recorded in history so a run replays against it
    (as a local activity, or with `local` False a regular one).

    Raises:
        ApplicationError: ``UnknownAgent``, the worker does not serve `name` (the run
            fails at once, saying what the worker serves); ``McpServerUnavailable`` or
            ``McpToolsInvalid``, the agent's MCP tools could not be listed (saying which
            server, and why).
    """
    try:
        spec: AgentSpec = await execute(
            DESCRIBE_AGENT_ACTIVITY,
            name,
            result_type=AgentSpec,
            local=local,
            # Listing MCP tools may start a server process first (each server has its
            # own, shorter, connect timeout); without MCP servers this takes no time.
            start_to_close=timedelta(seconds=60),
            # The activity heartbeats: a worker lost while describing costs the run
            # this long, not the minute an MCP server may take to list its tools.
            heartbeat=timedelta(seconds=DEFAULT_HEARTBEAT_TIMEOUT_SECONDS),
            retry=RetryPolicy(maximum_attempts=3),
            summary=f"agent {name} · spec recorded for this run",
        )
    except ActivityError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in STARTS_NOT:
            raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from e
        raise
    return spec


# How long a model call waits for the worker that holds the run's conversation before
# it is given to any worker instead (which reads the conversation from history).
AFFINITY_WAIT = timedelta(seconds=5)


async def execute_llm(
    spec: AgentSpec,
    request: LlmRequest,
    *,
    summary: str,
    worker_queue: str | None = None,
    local_allowed: bool = True,
    events: RunEvents | None = None,
) -> LlmReply:
    """One model call: a regular activity, or a local one if the agent's policy says so.

    A regular call goes to `worker_queue` when given (the worker that made the run's
    last call polls it, and keeps the conversation), for up to AFFINITY_WAIT; if that
    worker is gone, to the run's task queue, where any worker takes it. With `events`,
    the reply's text goes to the run's feed: as it is written if someone watches the
    run, the agent streams and the call is regular, else at once when it returns.

    A worker that limits its model calls recorded its model queue in the spec: the call
    then waits there, a regular activity, for a free slot (from generations.CURRENT on)."""
    policy = spec.llm
    model_queue = spec.llm_queue if spec.llm_queue and real_models() else None
    if model_queue is not None:
        local_allowed, worker_queue = False, model_queue
    local = policy.local_activity and local_allowed
    if spec.digest is not None:  # the activity then acts on the agent this run recorded
        request = request.model_copy(update={"digest": spec.digest})
    streams = policy.stream and not local and not request.summary
    if events is not None and events.watched and streams:
        request = request.model_copy(update={"stream": True})

    async def call(queue: str | None) -> LlmReply:
        return await execute(
            LLM_ACTIVITY,
            request,
            result_type=LlmReply,
            local=local,
            start_to_close=timedelta(seconds=policy.timeout_seconds),
            heartbeat=timedelta(seconds=policy.heartbeat_timeout_seconds),
            retry=policy.retry.to_policy(),
            summary=summary,
            task_queue=queue,
            # A model queue's calls wait as long as the calls before them take.
            schedule_to_start=AFFINITY_WAIT if queue and queue != model_queue else None,
        )

    reply = await _call_where(call, None if local else worker_queue)
    if events is not None:
        text = reply.message.content
        if text and not reply.streamed:
            events.publish(TextDelta(turn=request.turn, text=text))
        events.publish(
            Reply(
                turn=request.turn,
                text=text,
                truncated=reply.message.truncated,
                tools_dropped=reply.tools_dropped,
            )
        )
    return reply


async def _call_where(
    call: Callable[[str | None], Awaitable[LlmReply]], worker_queue: str | None
) -> LlmReply:
    """`call` on `worker_queue` first, if there is one; on the run's task queue if no
    worker took it there in time."""
    if worker_queue is None:
        return await call(None)
    try:
        return await call(worker_queue)
    except ActivityError as e:
        if not _not_started(e):
            raise
        workflow.logger.info("the conversation's worker is gone", extra={"queue": worker_queue})
        return await call(None)


def _not_started(error: ActivityError) -> bool:
    cause = error.cause
    return isinstance(cause, ActivityTimeout) and cause.type == TimeoutType.SCHEDULE_TO_START


def repair_request(output_error: str) -> Message:
    """Sent back to the model when its structured answer did not validate."""
    return Message.user(
        f"Error: {output_error}. Reply again with only a JSON object that matches the schema."
    )
