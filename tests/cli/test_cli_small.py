"""The small things a reader trips on: "1 turns", a list that says newest first and is
not, two spellings of cancelled, log lines that repeat their fields in the message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import ROOT, cli, process_env, target, worker_process
from tests.support.waiting import first


async def test_list_is_newest_first_and_words_agree(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"small-{uuid.uuid4().hex[:8]}"
    env = process_env(target(dev_env), queue, tmp_path / "ledger.db")
    with worker_process(env, tmp_path / "worker.log"):
        one = cli(env, "run", "Hello there", "--id", f"{queue}-1")
        # Open (it waits for a person) between two that completed.
        cli(env, "run", "Order A-1001 arrived broken, refund it", "--id", f"{queue}-2", "--detach")
        cli(env, "run", "Where is order A-1003?", "--id", f"{queue}-3")
        cancelled = cli(env, "cancel", f"{queue}-2")
        again = cli(env, "cancel", f"{queue}-2")

        async def ours() -> list[str]:
            done = cli(env, "list", "--json", "--limit", "1000")
            return [r["workflow_id"] for r in json.loads(done.stdout) if queue in r["workflow_id"]]

        # Visibility trails a moment behind.
        listed = await first(
            ours, lambda ids: len(ids) == 3, "not all 3 listed", within=60, every=0.2
        )
        worker_log = (tmp_path / "worker.log").read_text().splitlines()
    assert one.returncode == 0, one.stderr
    assert "status completed · 1 turn · " in one.stdout
    assert listed == [f"{queue}-3", f"{queue}-2", f"{queue}-1"]
    assert cancelled.stdout.startswith(f"cancelled {queue}-2")
    assert again.stderr.strip() == f"tether: run '{queue}-2' has already ended (cancelled)"
    # The SDK appended each line's context dict to its message; it is in the fields.
    events = [json.loads(line)["event"] for line in worker_log if line.startswith("{")]
    assert "turn finished" in events
    assert not any("{'" in event for event in events), [e for e in events if "{'" in e]


def test_a_worker_imports_from_the_working_directory_only_what_agents_names_and_last(
    tmp_path: Path,
) -> None:
    # Before, the working directory went first on the path: a planted ./jsonschema.py
    # stood in for the installed package, and a planted ./tests.py for the --agents
    # module found elsewhere.
    planted = 'raise SystemExit("planted {} ran")\n'
    (tmp_path / "jsonschema.py").write_text(planted.format("jsonschema"))
    (tmp_path / "tests.py").write_text(planted.format("tests"))
    (tmp_path / "myagents.py").write_text(
        "import jsonschema\nfrom tether import Agent\n\n"
        'AGENTS = [Agent(name="mine", instructions="Help.")]\n'
    )
    tether = str(Path(sys.executable).parent / "tether")
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "PYTHONPATH": str(ROOT)}
    ran = {}
    for agents in ("myagents:AGENTS", "tests.support.order_desk:REGISTRY"):
        command = [tether, "worker", "--agents", agents, "--offline"]
        ran[agents] = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    for agents, done in ran.items():
        assert "planted" not in done.stdout + done.stderr, agents
        # It got as far as connecting: the registry loaded, from the right files.
        assert done.returncode == 2 and "127.0.0.1:1" in done.stderr, (agents, done.stderr)
