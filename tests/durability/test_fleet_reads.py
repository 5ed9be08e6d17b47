"""A fleet of workers reads a run's conversation back from history at most once per run
and lost worker, not on every call that lands elsewhere.

Three worker processes share long runs on a dev server with eager activity dispatch off
(as on a cluster): a run's model calls go to the shared queue until one lands on a
worker that did not hold the conversation, which reads it back (early: the run is a
turn long) and from then on gets the run's calls first, on a queue of its own. The
rebuilds the workers log are counted, with the bytes they read, against the runs' own
history sizes; then one worker is killed, and the runs it held are read back once more."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client

from tests.support.fleet_agents import STEPS, stepper
from tests.support.processes import DevServer, process_env, tether_worker, wait_for_pollers
from tests.support.stuck_runs import results_within
from tests.support.waiting import until
from tether import AgentRun
from tether.testing import OFFLINE_MODEL, ScriptedLLM

RUNS = 4
WORKERS = 3
NO_EAGER = ("--dynamic-config-value", "system.enableActivityEagerExecution=false")


def rebuilds(logs: list[Path]) -> list[dict[str, Any]]:
    """The workers' "conversation rebuilt" log lines, each with its run and bytes read."""
    lines = [line for log in logs for line in log.read_text().splitlines()]
    return [
        json.loads(line)
        for line in lines
        if line.startswith("{") and '"conversation rebuilt"' in line
    ]


async def history_bytes(client: Client, runs: list[AgentRun]) -> int:
    total = 0
    for run in runs:
        async for event in client.get_workflow_handle(run.id).fetch_history_events():
            total += event.ByteSize()
    return total


async def test_a_fleet_reads_each_conversation_back_at_most_once_per_lost_worker(
    tmp_path: Path,
) -> None:
    queue = f"fleet-{uuid.uuid4().hex[:8]}"
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    with DevServer(tmp_path / "t.db", tmp_path / "server.log", *NO_EAGER) as server:
        client = await server.client()
        with ScriptedLLM(scripts={"stepper": stepper}) as llm, ExitStack() as stack:
            env = process_env(
                server.address, queue, tmp_path / "ledger.db",
                OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-test", TETHER_MODEL=OFFLINE_MODEL,
            )  # fmt: skip
            workers = [
                stack.enter_context(tether_worker(env, log, "tests.support.fleet_agents:REGISTRY"))
                for log in logs
            ]
            await wait_for_pollers(client, queue, workers)
            runs = [
                await AgentRun.start(client, "stepper", f"run {i}", task_queue=queue)
                for i in range(RUNS)
            ]
            results = await results_within([r.handle for r in runs], 120, logs)
            assert [r.turns for r in results] == [STEPS] * RUNS
            calm = rebuilds(logs)
            total = await history_bytes(client, runs)
            # Now the same, with a worker killed half-way through the runs.
            more = [
                await AgentRun.start(client, "stepper", f"more {i}", task_queue=queue)
                for i in range(RUNS)
            ]
            half = RUNS * STEPS + RUNS * STEPS // 2

            async def half_way() -> bool:
                return llm.request_count >= half

            await until(half_way, "the second runs never got half-way", within=60)
            workers[0].kill()
            finished = await results_within([r.handle for r in more], 120, logs)
            assert [r.status for r in finished] == ["completed"] * RUNS
            after_kill = rebuilds(logs)[len(calm) :]
            total_more = await history_bytes(client, more)
    # With every worker up, a run read its conversation back at most once, early.
    per_run = Counter(r["run_id"] for r in calm)
    assert max(per_run.values(), default=0) <= 1, per_run
    calm_bytes = sum(r["history_bytes"] for r in calm)
    assert calm_bytes <= total / 4, f"read {calm_bytes} bytes of {total}"
    # A lost worker costs each of its runs one more read of (part of) its history.
    per_run = Counter(r["run_id"] for r in after_kill)
    assert max(per_run.values(), default=0) <= 2, per_run
    kill_bytes = sum(r["history_bytes"] for r in after_kill)
    assert kill_bytes <= total_more, f"read {kill_bytes} bytes of {total_more}"
    print(
        f"fleet reads: {calm_bytes} of {total} B calm, {kill_bytes} of {total_more} B after a kill"
    )
