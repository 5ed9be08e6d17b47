"""Logs worth reading: replay-safe workflow lines."""

from __future__ import annotations

import logging

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.order_desk import UNATTENDED, order_desk_script
from tether import AgentRun
from tether._replay import replay
from tether._temporal import TETHER_CONVERTER
from tether.testing import ScriptedLLM, worker
from tether.workflow import AgentWorkflow


def turn_lines(caplog: pytest.LogCaptureFixture) -> list[object]:
    return [
        getattr(r, "turn", None)
        for r in caplog.records
        if r.getMessage().startswith("turn finished")
    ]


async def test_workflow_lines_are_not_repeated_when_the_workflow_replays(
    ts_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether.workflow")
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(ts_env.client, UNATTENDED, llm) as w:
            run = await AgentRun.start(
                ts_env.client, "order-desk", "A-1001 arrived broken, refund it",
                task_queue=w.task_queue, acting_for=CUSTOMER,
            )  # fmt: skip
            handle = run.handle
            result = await handle.result()
    assert result.turns == 4
    assert turn_lines(caplog) == [1, 2, 3, 4]
    # A worker replaying the whole run (as one new to it would) logs none of it again.
    caplog.clear()
    [verdict] = await replay(
        [await handle.fetch_history()], workflows=[AgentWorkflow], converter=TETHER_CONVERTER
    )
    assert verdict.compatible, verdict.problem
    assert turn_lines(caplog) == []
