"""Logs worth reading: replay-safe workflow lines."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from support_desk.offline import support_desk_responder
from tests.conftest import UNATTENDED, running_worker
from tether import AgentInput, AgentWorkflow, WorkerTuning
from tether.testing import ScriptedLLM


async def test_workflow_lines_are_not_repeated_when_the_workflow_replays(
    ts_env: WorkflowEnvironment, shop_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No workflow cache: every workflow task replays the run from its first event.
    no_cache = WorkerTuning(max_cached_workflows=0, max_concurrent_workflow_tasks=2)
    caplog.set_level(logging.INFO, logger="temporalio.workflow")
    with ScriptedLLM(support_desk_responder) as llm:
        async with running_worker(ts_env.client, llm, agents=UNATTENDED, tuning=no_cache) as worker:
            result = await ts_env.client.execute_workflow(
                AgentWorkflow.run,
                AgentInput(agent="support-desk", prompt="A-1001 arrived broken, refund it"),
                id=f"replay-{uuid.uuid4()}",
                task_queue=worker.task_queue,
            )
    turns = [r for r in caplog.records if r.getMessage().startswith("turn finished")]
    assert result.turns == 5
    assert [getattr(r, "turn", None) for r in turns] == [1, 2, 3, 4, 5]
