"""`tether answer`: a person answers the question an agent asked, from a shell; an
answer the question refuses is one line, never a traceback. `tether run` on a terminal
asks the question itself."""

from __future__ import annotations

import json
import os
import pty
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.processes import Spawned, cli, target, tether_env, tether_worker
from tests.support.question_agents import WHICH_ORDER
from tests.support.waiting import first

AGENTS = "tests.support.question_agents"


async def test_a_question_is_shown_by_status_and_answered_from_the_shell(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"answer-{uuid.uuid4().hex[:8]}"
    run_id = f"{queue}-1"
    env = tether_env(target(dev_env), queue)
    offline = ("--offline", f"{AGENTS}:SCRIPTS")
    with tether_worker(env, tmp_path / "worker.log", f"{AGENTS}:REGISTRY", *offline):
        started = cli(env, "run", "My order is broken.", "--agent", "order-picker", "--id",
                      run_id, "--detach")  # fmt: skip
        assert started.returncode == 0, started.stderr

        async def asked() -> list[dict[str, object]]:
            shown = json.loads(cli(env, "status", run_id, "--json").stdout)
            return list(shown.get("pending_questions", []))

        (question,) = await first(asked, bool, "no question asked", within=60, every=0.3)
        call = str(question["call_id"])
        status = cli(env, "status", run_id)
        bad = cli(env, "answer", run_id, "--call", call, "A-1003")
        unknown = cli(env, "answer", run_id, "--call", "call_nope", "A-1001")
        answered = cli(env, "answer", run_id, "--call", call, "A-1002")
        transcript = cli(env, "transcript", run_id)
        watched = cli(env, "watch", run_id)

    assert "awaiting_answer" in status.stdout
    assert f"waiting for an answer: {WHICH_ORDER!r} (call {call})" in status.stdout
    assert 'the answer: one of "A-1001", "A-1002"' in status.stdout
    assert f"to answer: tether answer {run_id} --call {call} ANSWER" in status.stdout
    assert bad.returncode == 2
    assert bad.stderr == (
        'tether: the answer is refused: answer: must be one of "A-1001", "A-1002"\n'
    )
    assert unknown.returncode == 2
    assert unknown.stderr == (
        f"tether: no question 'call_nope' waits for an answer (waiting: {call})\n"
    )
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.startswith(f'answered {WHICH_ORDER!r} (call {call}) with "A-1002"')
    assert "You mean order A-1002." in transcript.stdout
    assert f"? asked a person (call {call}): {WHICH_ORDER} [A-1001 | A-1002]" in watched.stderr
    assert f"to answer: tether answer {run_id} --call {call} ANSWER" in watched.stderr
    assert '! answered "A-1002" by ' in watched.stderr


async def test_tether_run_on_a_terminal_asks_the_question_and_asks_again_when_refused(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"answer-{uuid.uuid4().hex[:8]}"
    env = tether_env(target(dev_env), queue)
    offline = ("--offline", f"{AGENTS}:SCRIPTS")
    ours, terminal = pty.openpty()
    try:
        with tether_worker(env, tmp_path / "worker.log", f"{AGENTS}:REGISTRY", *offline):
            running = Spawned(
                env, "run", "My order is broken.", "--agent", "order-picker", stdin=terminal
            )
            await running.wait_for(f"? {WHICH_ORDER} [A-1001 | A-1002]", seconds=60)
            os.write(ours, b"A-1003\n")
            await running.wait_for("the answer is refused")
            os.write(ours, b"A-1001\n")
            done = await running.finish(seconds=60)
    finally:
        os.close(ours)
        os.close(terminal)

    assert done.returncode == 0, done.stderr
    assert 'answer: must be one of "A-1001", "A-1002"' in done.stderr
    assert done.stdout.count(f"? {WHICH_ORDER} [A-1001 | A-1002]") == 2
    assert "You mean order A-1001." in done.stdout
