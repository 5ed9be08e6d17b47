"""How a run records its agent's spec (workflow code): `first_call`, a run's first model
call, records it with its reply (no activity of its own before the model is called);
`describe_agent` records it alone, where that call cannot. `describe_agent` is shared by
AgentWorkflow and the refund pipeline's LLM steps."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from tether._workflows.activity_calls import DEFAULT_HEARTBEAT_TIMEOUT_SECONDS, execute
from tether._workflows.deadline import DeadlineReached, by_deadline
from tether._workflows.llm_calls import llm_activity

with workflow.unsafe.imports_passed_through():
    from tether._messages import Message
    from tether._records import AgentSpec, LlmRecord
    from tether._run_io import AgentInput
    from tether._wire import DESCRIBE_AGENT_ACTIVITY, LlmReply, LlmRequest


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


# The first call's timeouts, before the agent's are known: the defaults of LlmPolicy.
FIRST_CALL_POLICY = LlmRecord()


async def first_call(
    params: AgentInput, started: datetime, *, watched: bool
) -> LlmReply | ActivityError | None:
    """The run's first model call, as a regular activity that takes the agent's spec as
    `describe_agent` would and returns it with the reply (`LlmRequest.first`), for the
    run to record and follow: no round trip before the model is called. `watched`:
    someone watches the run (the reply streams to its feed if the agent streams).

    Under LlmPolicy's default timeouts and retry policy, within which the worker keeps
    to the agent's own (its attempts, intervals and never-retried errors; its timeout),
    and the input's deadline. Returns the reply (with the spec; only the spec if the
    worker declined the call, `LlmReply.declined`); or the call's error if it failed,
    for the run to record the spec with `describe_agent` and act on as on any model
    call's (fall back to another model, or fail); or None if the deadline came first,
    and the run records the spec and calls as runs before this path did.
    """
    model = params.model or ""
    request = LlmRequest(
        agent=params.agent,
        model=model,
        messages=[Message.user(params.prompt)],
        turn=1,
        priced=params.max_cost_usd is not None,
        first=True,
        stream=watched,
    )
    seconds = params.deadline_seconds
    deadline = started + timedelta(seconds=seconds) if seconds else None
    call = llm_activity(
        request,
        FIRST_CALL_POLICY,
        local=False,
        retry=FIRST_CALL_POLICY.retry.to_policy(),
        summary=f"llm {model or f'{params.agent} model'} · turn 1 · agent spec recorded",
    )
    try:
        reply = await by_deadline(call, deadline)
    except DeadlineReached:
        return None
    except ActivityError as e:
        if is_cancelled_exception(e):
            raise
        return e
    return reply
