"""The small things a reader trips on: "1 turns", a list that says newest first and is
not, two spellings of cancelled, log lines that repeat their fields in the message."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.processes import process_env, starter, target, worker_process


async def test_list_is_newest_first_and_words_agree(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"small-{uuid.uuid4().hex[:8]}"
    env = process_env(target(dev_env), queue, tmp_path / "shop.db")
    with worker_process(env, tmp_path / "worker.log"):
        one = starter(env, "run", "Hello there", "--id", f"{queue}-1")
        # Open (it waits for a person) between two that completed.
        starter(
            env, "run", "Order A-1001 arrived broken, refund it", "--id", f"{queue}-2", "--detach"
        )
        starter(env, "run", "Where is order A-1003?", "--id", f"{queue}-3")
        cancelled = starter(env, "cancel", f"{queue}-2")
        again = starter(env, "cancel", f"{queue}-2")
        listed: list[str] = []
        for _ in range(50):  # visibility trails a moment behind
            done = starter(env, "list", "--json", "--limit", "1000")
            listed = [
                r["workflow_id"] for r in json.loads(done.stdout) if queue in r["workflow_id"]
            ]
            if len(listed) == 3:
                break
            await asyncio.sleep(0.2)
        worker_log = (tmp_path / "worker.log").read_text().splitlines()
    assert one.returncode == 0, one.stderr
    assert "status completed · 1 turn · " in one.stdout
    assert listed == [f"{queue}-3", f"{queue}-2", f"{queue}-1"]
    assert cancelled.stdout.startswith(f"cancelled {queue}-2")
    assert again.stderr.strip() == f"starter.py: run '{queue}-2' has already ended (cancelled)"
    # The SDK appended each line's context dict to its message; it is in the fields.
    events = [json.loads(line)["event"] for line in worker_log if line.startswith("{")]
    assert "turn finished" in events
    assert not any("{'" in event for event in events), [e for e in events if "{'" in e]
