"""Watchers of a run whose worker is killed get every event once, the last ones too: real
`tether worker` and `tether watch --events` processes on a dev server. The probe's
watchers saw nothing stream after the kill (each poll of the feed gave up after 10 s,
just as the dead worker's sticky queue handed it on), and `watch --events` waited 5 s
after the result, then exited 0 without `reply` and `run_ended` (12 of 22 readers)."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import cli_command, model_env, process_env, target, tether_worker
from tests.support.waiting import closed
from tether import AgentRun
from tether.testing import ScriptedLLM, call_tools, say

AGENTS = "tests.support.slow_agents:REGISTRY"
WATCHERS = 3
HUNG_SECONDS = 12  # longer than `watch` waited for the last events after the result


async def watch(env: dict[str, str], run_id: str) -> tuple[int, list[dict[str, object]], str]:
    proc = await asyncio.create_subprocess_exec(
        *cli_command("watch", run_id, "--events"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(150):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()], err.decode()


async def test_watchers_get_every_event_once_after_a_worker_is_killed(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The worker that ends the run hangs at once, and is killed a while later: the
    watchers' next polls of the feed go to its sticky queue, where nobody answers."""
    queue = f"watch-crash-{uuid.uuid4().hex[:8]}"
    writes = tmp_path / "writes.log"
    writes.touch()
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("slow_write", {"text": "hi"})), say("done"))
        env = process_env(
            target(dev_env), queue, tmp_path / "ledger.db", **model_env(llm),
            TETHER_TEST_WRITES=str(writes),
        )  # fmt: skip
        run = await AgentRun.start(dev_env.client, "writer", "write hi", task_queue=queue)
        with tether_worker(env, tmp_path / "first.log", AGENTS) as first:
            watchers = [asyncio.create_task(watch(env, run.id)) for _ in range(WATCHERS)]

            await closed(run.handle, within=60)
            # Hung, then dead: its open polls keep taking the watchers' queries meanwhile.
            first.send_signal(signal.SIGSTOP)
            with tether_worker(env, tmp_path / "second.log", AGENTS):
                await asyncio.sleep(HUNG_SECONDS)
                first.send_signal(signal.SIGKILL)
                result = await asyncio.wait_for(run.result(), 120)
                watched = await asyncio.gather(*watchers)
    assert result.status == "completed"
    for code, events, err in watched:
        assert code == 0, err
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(len(seqs))), seqs  # every event, once, in order
        kinds = [e["type"] for e in events]
        assert kinds.count("run_ended") == 1 and kinds[-1] == "run_ended", kinds
        assert {"reply", "tool_call_started", "tool_call_finished"} <= set(kinds), kinds
        assert [e["text"] for e in events if e["type"] == "reply"][-1] == "done"
