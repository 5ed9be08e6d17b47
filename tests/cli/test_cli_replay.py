"""`tether replay`: a recorded history replays on the current code, one changed by
hand does not (and the line says why), and a run that just finished on a dev server
replays by its workflow id. Bad input is in test_cli_bad_input.py."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.order_desk import REGISTRY, order_desk_script
from tests.support.processes import cli, process_env, target
from tests.support.recorded_histories import GENERATION, GENERATIONS
from tether import AgentRun
from tether._replay import load_history
from tether.testing import ScriptedLLM, worker

HISTORIES = GENERATIONS / GENERATION


def offline(tmp_path: Path) -> dict[str, str]:
    """A file replays without a server: nothing listens at this address."""
    return process_env("127.0.0.1:1", "unused", tmp_path / "ledger.db")


def test_a_recorded_history_is_compatible(tmp_path: Path) -> None:
    path = HISTORIES / "approval-granted.json"
    events = len(load_history(path).events)
    done = cli(offline(tmp_path), "replay", "--file", str(path))
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout
        == f"compatible: {path} ({events} events) replays on the current workflow code\n"
    )


def test_a_changed_history_is_incompatible_and_says_why(tmp_path: Path) -> None:
    history = json.loads((HISTORIES / "multi-tool.json").read_text())
    scheduled = next(
        e["activityTaskScheduledEventAttributes"]
        for e in history["events"]
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "tether.llm"
    )
    scheduled["activityType"]["name"] = "tether.llm_v2"
    path = tmp_path / "renamed.json"
    path.write_text(json.dumps(history))
    done = cli(offline(tmp_path), "replay", "--file", str(path))

    assert done.returncode == 1
    [line] = done.stdout.splitlines()
    assert line.startswith(f"incompatible: {path} ({len(history['events'])} events): ")
    assert line.endswith(
        "[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'tether.llm_v2' "
        "does not match activity type of activity command 'tether.llm'"
    )
    # The SDK's own report of the failure (Rust debug output, a traceback) stays out.
    assert done.stderr == ""


async def test_a_run_that_just_finished_replays_by_id(
    dev_env: WorkflowEnvironment, tmp_path: Path, ledger: Path
) -> None:
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(dev_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                dev_env.client, "order-desk", "Where is order A-1003?",
                id=f"replay-{uuid.uuid4().hex[:8]}", task_queue=w.task_queue, acting_for=CUSTOMER,
            )  # fmt: skip
            handle = run.handle
            result = await handle.result()
    events = len((await handle.fetch_history()).events)
    done = cli(process_env(target(dev_env), "unused", ledger), "replay", handle.id, "--json")

    assert result.status == "completed"
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "workflow_id": handle.id,
        "run_id": handle.result_run_id,
        "events": events,
        "compatible": True,
        "problem": None,
    }
