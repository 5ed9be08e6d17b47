"""End to end on a real dev server: worker and starter as real subprocesses."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import count_rows
from tests.processes import process_env, starter, target, worker_process


async def test_starter_runs_the_demo_to_one_email(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = process_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)
    with worker_process(env, tmp_path / "worker.log"):
        done = starter(env, "run", "Order A-1001 arrived broken, I want my money back.", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "completed"
    assert "refunded $42.00" in out["answer"]
    assert out["turns"] == 5
    usage = out["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert out["workflow_id"].startswith("support-desk-")
    assert count_rows(shop, "outbox") == 1
    assert count_rows(shop, "refunds") == 1
    # The run is really in Temporal, completed, under the id the starter printed.
    described = await dev_env.client.get_workflow_handle(out["workflow_id"]).describe()
    assert described.status is not None and described.status.name == "COMPLETED"


async def test_starter_follows_progress_and_detaches(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = process_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", tmp_path / "shop.db")
    with worker_process(env, tmp_path / "worker.log"):
        shown = starter(env, "run", "Where is order A-1003?", "--id", "e2e-follow")
        again = starter(env, "run", "Where is order A-1003?", "--id", "e2e-follow")
        detached = starter(env, "run", "Where is A-1002?", "--detach", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "→ lookup_order" in shown.stdout
    assert "A-1003 (Desk lamp) is shipped" in shown.stdout
    assert "/namespaces/default/workflows/e2e-follow/" in shown.stdout
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "starter.py: a run with id 'e2e-follow' already exists; choose another --id"
    )
    assert detached.returncode == 0, detached.stderr
    assert json.loads(detached.stdout)["workflow_id"].startswith("support-desk-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "   "], "starter.py: invalid prompt: String should have at least 1 character"),
        (["run", "hi", "--agent", "nope"], "unknown agent 'nope' (known agents: support-desk)"),
        (["run", "hi", "--max-turns", "0"], "invalid max_turns: Input should be greater than"),
    ],
)
def test_starter_rejects_bad_input_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = process_env("127.0.0.1:1", "unused", tmp_path / "shop.db")
    done = starter(env, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_starter_names_the_fix_when_temporal_is_unreachable(tmp_path: Path) -> None:
    env = process_env("127.0.0.1:1", "unused", tmp_path / "shop.db")
    done = starter(env, "run", "hello")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "starter.py: cannot reach Temporal at 127.0.0.1:1 (namespace default): "
        "start the dev server with `python3 dev.py server`, or set TEMPORAL_ADDRESS"
    )
