"""Any start input a client can send fails a bad run at once with `InvalidInput` and a
message that says what was wrong, instead of wedging its first workflow task (the
SDK retries a task whose arguments do not decode forever). Started the way a person
would, with the `temporal` CLI."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.support.order_desk import REGISTRY
from tests.support.processes import target
from tests.support.waiting import closed
from tether.testing import ScriptedLLM, binary, worker

# The `temporal workflow start` arguments of each input, and what the run must say.
INPUTS = {
    "a-string": (["--input", '"hello"'], "Input should be a valid dictionary"),
    "a-number": (["--input", "42"], "Input should be a valid dictionary"),
    "null": (["--input", "null"], "Input should be a valid dictionary"),
    "a-list": (["--input", "[1,2]"], "Input should be a valid dictionary"),
    "two-inputs": (["--input", '{"agent": "a"}', "--input", "{}"], "got 2 arguments"),
    "no-input": ([], "got 0 arguments"),
    "missing-fields": (["--input", '{"agent": "order-desk"}'], "prompt: Field required"),
}
WORKFLOWS = {"AgentWorkflow": "AgentInput", "OrderRefundFlow": "PipelineInput"}


@pytest.mark.parametrize("kind", list(WORKFLOWS))
async def test_bad_start_input_fails_the_run_at_once(
    dev_env: WorkflowEnvironment, kind: str
) -> None:
    with ScriptedLLM() as llm:
        async with worker(dev_env.client, REGISTRY, llm) as w:
            started = {}
            for name, (args, _) in INPUTS.items():
                workflow_id = f"input-{name}-{uuid.uuid4().hex[:6]}"
                where = ["--address", target(dev_env), "--task-queue", w.task_queue]
                await temporal(
                    "workflow", "start", *where, "--type", kind, "-w", workflow_id, *args
                )
                started[name] = workflow_id
            ended = await asyncio.gather(
                *(failed_start(dev_env, workflow_id) for workflow_id in started.values())
            )
    assert llm.request_count == 0  # nothing ran on a bad input
    for (name, (_, says)), (status, failure) in zip(INPUTS.items(), ended, strict=True):
        assert status == WorkflowExecutionStatus.FAILED, name
        if kind == "OrderRefundFlow" and name == "missing-fields":
            says = "text: Field required"
        assert failure.startswith("invalid input: ") and says in failure, (name, failure)
        assert WORKFLOWS[kind] in failure or name not in ("two-inputs", "no-input")


async def temporal(*args: str) -> None:
    """The `temporal` CLI (the worker keeps running on this event loop meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        binary("temporal"), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def failed_start(
    env: WorkflowEnvironment, workflow_id: str, within: float = 30
) -> tuple[WorkflowExecutionStatus | None, str]:
    """The run's status once it closed, and its failure's message."""
    handle = env.client.get_workflow_handle(workflow_id)
    described = await closed(handle, within=within)
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_failed_event_attributes"):
            failure = event.workflow_execution_failed_event_attributes.failure
            assert failure.application_failure_info.type == "InvalidInput"
            assert failure.application_failure_info.non_retryable
            return described.status, failure.message
    return described.status, ""
