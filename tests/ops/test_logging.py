"""Logs worth reading: replay-safe workflow lines."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from support_desk.offline import support_desk_responder
from tests.support.shop import CUSTOMER, UNATTENDED, running_worker
from tether._replay import replay
from tether._run_io import AgentInput
from tether._temporal import TETHER_CONVERTER
from tether.testing import ScriptedLLM
from tether.workflow import AgentWorkflow


def turn_lines(caplog: pytest.LogCaptureFixture) -> list[object]:
    return [
        getattr(r, "turn", None)
        for r in caplog.records
        if r.getMessage().startswith("turn finished")
    ]


async def test_workflow_lines_are_not_repeated_when_the_workflow_replays(
    ts_env: WorkflowEnvironment, shop_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether.workflow")
    with ScriptedLLM(support_desk_responder) as llm:
        async with running_worker(ts_env.client, llm, agents=UNATTENDED) as worker:
            handle = await ts_env.client.start_workflow(
                AgentWorkflow.run,
                AgentInput(
                    agent="support-desk",
                    acting_for=CUSTOMER,
                    prompt="A-1001 arrived broken, refund it",
                ),
                id=f"replay-{uuid.uuid4()}",
                task_queue=worker.task_queue,
            )
            result = await handle.result()
    assert result.turns == 5
    assert turn_lines(caplog) == [1, 2, 3, 4, 5]
    # A worker replaying the whole run (as one new to it would) logs none of it again.
    caplog.clear()
    [verdict] = await replay(
        [await handle.fetch_history()], workflows=[AgentWorkflow], converter=TETHER_CONVERTER
    )
    assert verdict.compatible, verdict.problem
    assert turn_lines(caplog) == []
