"""Helpers to run worker.py and starter.py as real subprocesses against a test server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent


def target(env: WorkflowEnvironment) -> str:
    """The address of a test server, for a process's TEMPORAL_ADDRESS."""
    return env.client.service_client.config.target_host


def process_env(
    temporal_address: str, task_queue: str, shop_db: Path, **extra: str
) -> dict[str, str]:
    """The environment of a Tether process: offline model unless `extra` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TETHER_TASK_QUEUE=task_queue,
        TETHER_SHOP_DB=str(shop_db),
        TETHER_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def starter(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def wait_for_pollers(
    client: Client, queue: str, workers: Sequence[subprocess.Popen[bytes]]
) -> None:
    """Until every worker polls for workflow and activity tasks, so all share the load."""
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        while True:
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                )
            )
            polling = {p.identity.split("@")[0] for p in described.pollers}
            if {str(w.pid) for w in workers} <= polling:
                break
            assert all(w.poll() is None for w in workers), "a worker exited while starting"
            await asyncio.sleep(0.2)
