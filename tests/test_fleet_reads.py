"""A fleet of workers reads a run's conversation back from history only when the worker
that holds it is gone, not on every call that lands elsewhere.

Three worker processes share long runs on a dev server with eager activity dispatch off
(as on a cluster): each model call goes first to the task queue of the worker that made
the run's previous one. The bytes of history the workers read (they log each rebuild)
are counted against the runs' own history sizes; then one worker is killed, and the
runs it held are read back once each."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import ExitStack
from pathlib import Path

from temporalio.client import Client

from tests.conftest import until
from tests.fleet_agents import STEPS, stepper
from tests.processes import DevServer, process_env, tether_worker, wait_for_pollers
from tether import AgentRun
from tether.testing import OFFLINE_MODEL, ScriptedLLM

RUNS = 4
WORKERS = 3
NO_EAGER = ("--dynamic-config-value", "system.enableActivityEagerExecution=false")


def bytes_read(logs: list[Path]) -> int:
    total = 0
    for log in logs:
        for line in log.read_text().splitlines():
            if line.startswith("{") and '"conversation rebuilt"' in line:
                total += json.loads(line)["history_bytes"]
    return total


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
                server.address, queue, tmp_path / "shop.db",
                OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-test", TETHER_MODEL=OFFLINE_MODEL,
            )  # fmt: skip
            workers = [
                stack.enter_context(tether_worker(env, log, "tests.fleet_agents:REGISTRY"))
                for log in logs
            ]
            await wait_for_pollers(client, queue, workers)
            runs = [
                await AgentRun.start(client, "stepper", f"run {i}", task_queue=queue)
                for i in range(RUNS)
            ]
            results = await asyncio.wait_for(asyncio.gather(*(r.result() for r in runs)), 120)
            assert [r.turns for r in results] == [STEPS] * RUNS
            calm = bytes_read(logs)
            total = await history_bytes(client, runs)
            # Now the same, with a worker killed half-way through the runs.
            more = [
                await AgentRun.start(client, "stepper", f"more {i}", task_queue=queue)
                for i in range(RUNS)
            ]
            half = RUNS * STEPS + RUNS * STEPS // 2

            async def half_way() -> bool:
                return llm.request_count >= half

            await until(half_way, "the second runs never got half-way", seconds=60)
            workers[0].kill()
            finished = await asyncio.wait_for(asyncio.gather(*(r.result() for r in more)), 120)
            assert [r.status for r in finished] == ["completed"] * RUNS
            after_kill = bytes_read(logs) - calm
            total_more = await history_bytes(client, more)
    # With every worker up, no call had to read its conversation back.
    assert calm == 0, f"read {calm} bytes of {total}"
    # A lost worker costs each of its runs one read of (part of) its history.
    assert after_kill <= total_more, f"read {after_kill} bytes of {total_more}"
    print(f"fleet reads: {calm} of {total} B calm, {after_kill} of {total_more} B after a kill")
