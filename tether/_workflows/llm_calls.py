"""An agent's spec and one model call, as activities (workflow code).

Shared by AgentWorkflow's loop and the refund pipeline's LLM steps, so both call the
model through the same activity, timeouts, retries and structured-output checks.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from tether._workflows.activity_calls import execute

with workflow.unsafe.imports_passed_through():
    from tether._messages import Message
    from tether._seam import (
        DESCRIBE_AGENT_ACTIVITY,
        LLM_ACTIVITY,
        AgentSpec,
        LlmReply,
        LlmRequest,
    )


# Why a run cannot start, as its failure says it.
STARTS_NOT = ("UnknownAgent", "McpServerUnavailable", "McpToolsInvalid")


async def describe_agent(name: str) -> AgentSpec:
    """The agent's spec from the worker, recorded in history so a run replays against it.

    Raises:
        ApplicationError: ``UnknownAgent``, the worker does not serve `name` (the run
            fails at once, saying what the worker serves); ``McpServerUnavailable`` or
            ``McpToolsInvalid``, the agent's MCP tools could not be listed (saying which
            server, and why).
    """
    try:
        spec: AgentSpec = await workflow.execute_local_activity(
            DESCRIBE_AGENT_ACTIVITY,
            name,
            result_type=AgentSpec,
            # Listing MCP tools may start a server process first (each server has its
            # own, shorter, connect timeout); without MCP servers this takes no time.
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
    except ActivityError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in STARTS_NOT:
            raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from e
        raise
    return spec


async def execute_llm(spec: AgentSpec, request: LlmRequest, *, summary: str) -> LlmReply:
    """One model call: a regular activity, or a local one if the agent's policy says so."""
    policy = spec.llm
    if spec.digest is not None:  # the activity then acts on the agent this run recorded
        request = request.model_copy(update={"digest": spec.digest})
    return await execute(
        LLM_ACTIVITY,
        request,
        result_type=LlmReply,
        local=policy.local_activity,
        start_to_close=timedelta(seconds=policy.timeout_seconds),
        heartbeat=timedelta(seconds=policy.heartbeat_timeout_seconds),
        retry=policy.retry.to_policy(),
        summary=summary,
    )


def repair_request(output_error: str) -> Message:
    """Sent back to the model when its structured answer did not validate."""
    return Message.user(
        f"Error: {output_error}. Reply again with only a JSON object that matches the schema."
    )
