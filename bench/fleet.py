"""What a fleet reads back from history: `python3 dev.py bench --fleet`.

A model call that lands on a worker without the run's conversation rebuilds it from the
run's history (see tether/_activities/conversations.py), so the bytes a fleet reads are
the price of spreading a run over workers. This runs the benchmark agent for several
lengths on 1 and 3 workers of one task queue, on a dev server with eager activity
dispatch off (as on a cluster, where an activity need not run on the worker that
scheduled it), and counts the bytes each rebuild read (the workers log them), against
the runs' own history sizes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.agents import BENCH, prompt, responder
from bench.worker import READY
from tether import AgentRun
from tether._process import stdout_to_stderr, stop
from tether._temporal import TETHER_CONVERTER
from tether.testing import ScriptedLLM, binary

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0

NO_EAGER = ["--dynamic-config-value", "system.enableActivityEagerExecution=false"]
RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class FleetRow:
    workers: int
    turns: int
    runs: int
    history_bytes: int  # per run
    read_bytes: int  # per run, by all the workers' rebuilds


async def fleet(turns: list[int], workers: list[int], runs: int) -> list[FleetRow]:
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="tether-fleet-") as tmp,
        ScriptedLLM(responder()) as llm,
    ):
        with stdout_to_stderr():
            server = await WorkflowEnvironment.start_local(
                data_converter=TETHER_CONVERTER,
                dev_server_existing_path=binary("temporal"),
                dev_server_database_filename=str(Path(tmp) / "temporal.db"),
                dev_server_extra_args=NO_EAGER,
            )
        async with server:
            address = server.client.service_client.config.target_host
            for count in workers:
                for length in turns:
                    queue = f"fleet-{uuid.uuid4().hex[:8]}"
                    logs = [Path(tmp) / f"{queue}-{i}.log" for i in range(count)]
                    with worker_processes(address, queue, llm.base_url, logs):
                        history = await _runs(server.client, queue, length, runs)
                    rows.append(FleetRow(count, length, runs, history // runs, read(logs) // runs))
    return rows


@contextmanager
def worker_processes(address: str, queue: str, llm_url: str, logs: list[Path]) -> Iterator[None]:
    """`bench.worker tether` processes on one queue (each its own conversation cache)."""
    with ExitStack() as stack:
        procs = []
        for log in logs:
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.worker", "tether", address, queue, llm_url],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            stack.callback(stop, proc)
            procs.append((proc, log))
        deadline = time.monotonic() + START_TIMEOUT_S
        for proc, log in procs:
            while READY.encode() not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a fleet worker did not start; see {log}")
                time.sleep(0.1)
        yield


def read(logs: list[Path]) -> int:
    """The history bytes the workers' rebuilds read (they log each one)."""
    total = 0
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"conversation rebuilt"' in line:
                total += int(json.loads(line)["history_bytes"])
    return total


async def _runs(client: Client, queue: str, turns: int, runs: int) -> int:
    """Run `runs` runs of `turns` model calls on `queue`; their history bytes."""
    started = [
        await AgentRun.start(client, BENCH.name, prompt(turns), task_queue=queue)
        for _ in range(runs)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.result() for r in started)), RUN_TIMEOUT_S)
    total = 0
    for run in started:
        async for event in client.get_workflow_handle(run.id).fetch_history_events():
            total += event.ByteSize()
    return total


def table(rows: list[FleetRow]) -> str:
    lines = [
        "| workers | turns | history per run | read back per run | read per history byte |",
        "|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        ratio = r.read_bytes / r.history_bytes if r.history_bytes else 0.0
        lines.append(
            f"| {r.workers} | {r.turns} | {r.history_bytes / 1024:.1f} KB "
            f"| {r.read_bytes / 1024:.1f} KB | {ratio:.2f} |"
        )
    return "\n".join(lines)
