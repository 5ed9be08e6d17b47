"""What one run of the standard agent costs in Temporal Cloud's billable actions and in
history events, counted from a real run's history on the dev server (with Tether's
search attributes registered), so a change that adds an action per run fails here.

The standard agent is the peers' benchmark agent (bench/agents.py): 4 model calls and
3 calls of one ordinary tool, every option at its default. The floor of one regular
activity per call is 8 actions (the start and 7 activities) and 47 events.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from bench.agents import BENCH, STANDARD_TURNS, prompt, responder
from bench.agents import REGISTRY as BENCH_AGENTS
from bench.measure import actions
from tether import AgentRun
from tether.testing import ScriptedLLM, worker

# The peers' count (OpenAI Agents plugin, pydantic-ai's TemporalAgent): the start and
# one activity per call.
PEERS_ACTIONS = 8


async def test_the_standard_agent_costs_no_more_actions_than_its_peers(
    dev_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with ScriptedLLM(responder()) as llm:
        async with worker(dev_env.client, BENCH_AGENTS, llm) as w:
            run = await AgentRun.start(
                dev_env.client,
                BENCH.name,
                prompt(STANDARD_TURNS),
                task_queue=w.task_queue,
                id=f"actions-{uuid.uuid4().hex[:8]}",
            )
            result = await run.result()
    assert result.status == "completed", result
    events = [e async for e in run.handle.fetch_history_events()]
    kinds = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]
    assert actions(events) <= PEERS_ACTIONS, kinds
    # Nothing beyond the floor's events: no activity, marker or upsert of Tether's own.
    assert "MARKER_RECORDED" not in kinds, kinds
    assert "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" not in kinds, kinds
    assert len(events) == 47, kinds
    # And no line a process that configures no logging would print (warnings and up).
    assert [r.getMessage() for r in caplog.records] == []
