"""An evaluation survives its processes: the worker and `tether eval` are killed (SIGKILL)
half-way through fifty cases, a new worker starts, `tether eval --resume ID` goes on,
and every case has run exactly once: one child run each, every model request accounted
for by an attempt in a history, every approved note written once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support.eval_agents import NOTER, noter
from tests.support.processes import model_env, running, target
from tether import Signer
from tether._wire import LLM_ACTIVITY
from tether.testing import ScriptedLLM

ROOT = Path(__file__).resolve().parents[2]
TETHER = str(Path(sys.executable).parent / "tether")
CASES = 50
KILL_AFTER = 20  # runs ended when both processes are killed
CONCURRENCY = 4


def dataset(path: Path) -> Path:
    """Fifty cases; every seventh one's note is rejected."""
    cases = [
        {"name": f"case-{n}", "inputs": f"Note case {n}."}
        | ({"metadata": {"approvals": "reject"}} if n % 7 == 0 else {})
        for n in range(1, CASES + 1)
    ]
    path.write_text(
        yaml.safe_dump({"name": "notes", "cases": cases, "evaluators": ["noted_as_decided"]})
    )
    return path


def ended_lines(log: Path) -> int:
    """The runs `tether eval` said ended (a line each when not on a terminal)."""
    return len(re.findall(rf"^\d+/{CASES} ", log.read_text(errors="replace"), re.MULTILINE))


async def llm_attempts(client: Client, workflow_id: str) -> int:
    """The model calls a run's history records, counting every attempt of each."""
    kinds: dict[int, str] = {}
    attempts = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            kinds[event.event_id] = scheduled.activity_type.name
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if kinds.get(started.scheduled_event_id) == LLM_ACTIVITY:
                attempts += started.attempt
    return attempts


async def test_a_killed_evaluation_resumes_and_runs_every_case_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    eval_id = f"eval-crash-{uuid.uuid4().hex[:8]}"
    signer = Signer.generate(tmp_path / "eval.key")
    (tmp_path / "allowed").write_text(f"tether-eval {signer.public_key}\n")
    data = dataset(tmp_path / "notes.yaml")
    notes = tmp_path / "notes.db"
    with ScriptedLLM(scripts={NOTER: noter}) as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
        env.update(
            TEMPORAL_ADDRESS=target(dev_env),
            TETHER_TASK_QUEUE=f"eval-crash-{uuid.uuid4().hex[:8]}",
            TETHER_APPROVER_KEYS=str(tmp_path / "allowed"),
            EVAL_NOTES_DB=str(notes),
            PYTHONUNBUFFERED="1",
            **model_env(llm),
        )
        client_env = env | {
            "TETHER_SIGNING_KEY": str(tmp_path / "eval.key"),
            "TETHER_IDENTITY": "tether-eval",
        }
        worker = [TETHER, "worker", "--agents", "tests.support.eval_agents:REGISTRY"]
        evaluation = [
            TETHER, "eval", str(data), "--target", NOTER, "--id", eval_id,
            "--evaluators", "tests.support.eval_agents", "--concurrency", str(CONCURRENCY),
        ]  # fmt: skip
        first = tmp_path / "eval-1.log"
        with (
            running(worker, env, tmp_path / "worker-1.log") as killed_worker,
            running(evaluation, client_env, first) as killed_client,
        ):
            deadline = time.monotonic() + 180
            while ended_lines(first) < KILL_AFTER:
                assert killed_client.poll() is None, first.read_text()
                assert time.monotonic() < deadline, first.read_text()
                await asyncio.sleep(0.1)
            for proc in (killed_worker, killed_client):
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
        ended_before = ended_lines(first)
        assert KILL_AFTER <= ended_before < CASES

        # Nothing runs it now; `eval status` reads where it is from its history.
        status = await asyncio.to_thread(
            subprocess.run,
            [TETHER, "eval", "status", eval_id], env=env, cwd=ROOT, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert f"evaluation {eval_id} · running" in status.stdout

        with running(worker, env, tmp_path / "worker-2.log"):
            resumed = await asyncio.to_thread(
                subprocess.run,
                [TETHER, "eval", "--resume", eval_id, "--json"], env=client_env, cwd=ROOT,
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        requests = Counter(
            re.findall(r"\d+", next(m["content"] for m in r.messages if m["role"] == "user"))[0]
            for r in llm.requests
        )

    report = json.loads(resumed.stdout)
    results = report["results"]
    # Every case once, each in one child run, each correct.
    assert sorted(r["case"] for r in results) == sorted(f"case-{n}" for n in range(1, CASES + 1))
    assert len({r["workflow_id"] for r in results}) == CASES
    assert report["targets"][0]["correct"] == CASES, report["targets"][0]["failing_cases"]
    started, open_runs, most = 0, 0, 0
    async for event in dev_env.client.get_workflow_handle(eval_id).fetch_history_events():
        kind = event.WhichOneof("attributes") or ""
        if kind == "start_child_workflow_execution_initiated_event_attributes":
            started, open_runs = started + 1, open_runs + 1
        elif kind.startswith("child_workflow_execution_") and kind != (
            "child_workflow_execution_started_event_attributes"
        ):
            open_runs -= 1
        most = max(most, open_runs)
    assert started == CASES
    assert most == CONCURRENCY  # never more runs at once than asked, and that many
    # The resumed follower reports every run once, those of before the kill too.
    shown = re.findall(rf"^\d+/{CASES} . {NOTER} · (case-\d+) ", resumed.stderr, re.MULTILINE)
    assert sorted(shown) == sorted(r["case"] for r in results)

    # Every request the model server saw is an attempt a history records, and no call
    # that had finished was made again: only calls in flight at the kill were retried
    # (each a later attempt in its history; one killed before its request went out
    # reached the server once), at most one per case that was running.
    retried = 0
    for r in results:
        number = r["case"].removeprefix("case-")
        assert r["facts"]["llm_calls"] == 2  # note it, then say so
        attempts = await llm_attempts(dev_env.client, r["workflow_id"])
        assert 2 <= requests[number] <= attempts, r["case"]
        retried += attempts - 2
    assert retried <= CONCURRENCY

    # Each approved note was written once; the rejected ones never.
    rows = sqlite3.connect(notes).execute("SELECT number FROM notes").fetchall()
    assert sorted(n for (n,) in rows) == [n for n in range(1, CASES + 1) if n % 7]
    decided = Counter(a["approve"] for r in results for a in r["facts"]["approvals"])
    assert decided == {True: CASES - CASES // 7, False: CASES // 7}
