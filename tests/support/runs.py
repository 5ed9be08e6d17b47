"""Runs on the tests' Temporal servers: the handle of an agent run, a call's idempotency
key, and closing what a test left open."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from tether import AgentResult
from tether.workflow import AgentWorkflow

AgentHandle = WorkflowHandle[AgentWorkflow, AgentResult]


def key_of(handle: WorkflowHandle[Any, Any], turn: int, call_id: str) -> str:
    """The idempotency key of a call of the run `handle` started (default namespace)."""
    return f"default:{handle.id}:{handle.first_execution_run_id}:{turn}:{call_id}"


async def terminate_open_runs(client: Client) -> list[str]:
    """Terminate every open run on the server; the ids of those that were open."""
    left: list[str] = []
    page = b""
    while True:
        listed = await client.workflow_service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(
                namespace=client.namespace, maximum_page_size=100, next_page_token=page
            )
        )
        for run in listed.executions:
            left.append(run.execution.workflow_id)
            handle = client.get_workflow_handle(
                run.execution.workflow_id, run_id=run.execution.run_id
            )
            with suppress(RPCError):  # a child, ended with its parent
                await handle.terminate(reason="left open by a test")
        page = listed.next_page_token
        if not page:
            return left
