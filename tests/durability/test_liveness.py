"""A hung worker is found and removed: `tether worker` keeps a liveness file fresh from
its event loop; `tether health` says it went stale once the worker is stopped
(SIGSTOP), kills it with `--kill` (what the compose healthcheck runs), and the runs it
held finish on the other worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.compose import resolved_compose
from tests.support.ledger import runs_per_key, seed_orders
from tests.support.order_desk import start_refund
from tests.support.processes import process_env, target, wait_for_pollers, worker_process
from tests.support.stuck_runs import results_within
from tests.support.waiting import first

TETHER = str(Path(sys.executable).parent / "tether")
MAX_AGE = 8  # seconds; the worker rewrites its file every 5


async def health(file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        TETHER, "health", "--file", str(file), "--max-age", str(MAX_AGE), *extra,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return subprocess.CompletedProcess([], proc.returncode, out.decode(), err.decode())


async def test_a_stopped_worker_goes_stale_is_killed_and_its_runs_finish_elsewhere(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    orders = seed_orders(ledger, [f"L-{1000 + i}" for i in range(6)])
    queue = f"hung-{uuid.uuid4().hex[:8]}"
    files = [tmp_path / f"alive-{i}" for i in range(2)]
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                worker_process(
                    process_env(target(dev_env), queue, ledger, TETHER_LIVENESS_FILE=str(f)),
                    tmp_path / f"worker-{i}.log",
                )
            )
            for i, f in enumerate(files)
        ]
        await wait_for_pollers(dev_env.client, queue, workers)
        alive = await health(files[0])
        assert (alive.returncode, alive.stdout.split()[:3]) == (
            0, ["worker", str(workers[0].pid), "alive"]
        )  # fmt: skip
        hung = workers[0]
        os.kill(hung.pid, signal.SIGSTOP)
        runs = [await start_refund(dev_env.client, queue, order) for order in orders]
        stale = await first(
            lambda: health(files[0], "--kill"),
            lambda done: done.returncode != 0,
            "the file never went stale",
            within=MAX_AGE + 15,
            every=0.5,
        )
        assert stale.stdout.startswith(f"worker {hung.pid} silent for")
        assert stale.stdout.strip().endswith(": killed")
        assert hung.wait(timeout=10) == -signal.SIGKILL
        assert (await health(files[1])).returncode == 0
        logs = [tmp_path / f"worker-{i}.log" for i in range(len(files))]
        results = await results_within(runs, 120, logs)
    assert [r.status for r in results] == ["completed"] * len(orders)
    assert sum(runs_per_key(ledger, "refunds").values()) == len(orders)


def test_the_compose_workers_are_killed_by_their_healthcheck_when_hung() -> None:
    worker = resolved_compose()["worker"]
    assert worker["environment"]["TETHER_LIVENESS_FILE"]
    assert worker["healthcheck"]["test"][1:] == ["tether", "health", "--max-age", "30", "--kill"]
    assert worker["init"] is True and worker["restart"] == "unless-stopped"


async def test_health_without_a_file_says_how_to_set_it(tmp_path: Path) -> None:
    missing = await health(tmp_path / "nothing")
    assert missing.returncode == 1
    assert "is TETHER_LIVENESS_FILE set for the worker?" in missing.stdout


def test_health_kills_only_the_worker_that_writes_the_file(tmp_path: Path) -> None:
    # Before, `--kill` killed whatever pid the file named: a file anyone could write
    # named any process to kill (a reused pid too).
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        stale = f"{time.time() - 3600:.3f}"
        started = Path(f"/proc/{bystander.pid}/stat").read_text().rpartition(")")[2].split()[19]
        refused = []
        for name, content in [
            ("forged", f"{bystander.pid} {started} {stale}\n"),
            ("reused-pid", f"{bystander.pid} 1 {stale}\n"),
        ]:
            file = tmp_path / name
            file.write_text(content)
            command = [TETHER, "health", "--file", str(file), "--max-age", "8", "--kill"]
            refused.append(subprocess.run(command, capture_output=True, text=True, timeout=60))
        assert bystander.poll() is None  # still running
    finally:
        bystander.kill()
        bystander.wait()
    for done in refused:
        assert done.returncode == 1
        assert f"not killed, process {bystander.pid} is not the worker" in done.stdout
