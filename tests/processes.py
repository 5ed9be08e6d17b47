"""Helpers to run worker.py and starter.py as real subprocesses against a test server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    env: dict[str, str], *args: str, timeout: float = 60, stdin: str | int = ""
) -> subprocess.CompletedProcess[str]:
    """starter.py with `args`, reading `stdin`: text through a pipe, or a file
    descriptor (a pseudo-terminal's, to be asked questions)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        env=env,
        input=stdin if isinstance(stdin, str) else None,
        stdin=stdin if isinstance(stdin, int) else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
