"""A deploy (SIGTERM to a worker) repeats no call: the stopping worker lets its in-flight
model call and tool finish, within TETHER_GRACEFUL_SHUTDOWN_SECONDS, before it exits, and
the next worker goes on from there. Real `tether worker` processes on a dev server, the
scripted model over HTTP; the probe's workers cancelled both at once ("will wait 0:00:00
before cancelling activities"), and each was paid again."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import model_env, process_env, target, tether_worker
from tests.support.waiting import until
from tether import AgentRun
from tether.testing import ScriptedLLM, Slow, call_tools, say

AGENTS = "tests.support.slow_agents:REGISTRY"


async def test_sigterm_lets_the_model_call_and_the_tool_finish(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"graceful-{uuid.uuid4().hex[:8]}"
    writes = tmp_path / "writes.log"
    writes.touch()
    with ScriptedLLM() as llm:
        # The first model call takes 3 s: the first worker is stopped while it runs.
        llm.enqueue(Slow(3, call_tools(("slow_write", {"text": "hello"}))), say("done"))
        env = process_env(
            target(dev_env),
            queue,
            tmp_path / "ledger.db",
            **model_env(llm),
            TETHER_TEST_WRITES=str(writes),
            TETHER_GRACEFUL_SHUTDOWN_SECONDS="20",
        )
        run = await AgentRun.start(dev_env.client, "writer", "write hello", task_queue=queue)
        for i, waits_for in enumerate(["the model call", "the tool"]):
            with tether_worker(env, tmp_path / f"worker{i}.log", AGENTS) as proc:

                async def in_flight(i: int = i) -> bool:
                    started = (llm.request_count, writes.read_text().count("started"))
                    return started[i] == 1

                await until(in_flight, f"{waits_for} never started", within=60)
                proc.send_signal(signal.SIGTERM)  # mid-call, as a deploy does
                returned = await asyncio.to_thread(proc.wait, 30)
                assert returned == 0
        with tether_worker(env, tmp_path / "worker2.log", AGENTS):
            result = await asyncio.wait_for(run.result(), 60)
    assert result.status == "completed" and result.answer == "done"
    # Each model call was made once, and the tool ran once: nothing was paid twice.
    assert llm.request_count == 2
    assert writes.read_text().splitlines()[1:] == ["wrote hello"]
    assert writes.read_text().count("started") == 1
