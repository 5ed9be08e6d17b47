"""The CLI when something goes wrong: no worker, a model call retried, a script that
raises, a failed pipeline. Real dev server, `tether worker` and the `tether` CLI as subprocesses."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.order_desk import order_desk_script
from tests.support.processes import (
    Spawned,
    call_in,
    cli,
    cli_until,
    model_env,
    process_env,
    target,
    worker_process,
)
from tests.support.waiting import activities_when
from tether.testing import Fail, ScriptedLLM, Step, context_length_exceeded

REFUND = "Order A-1001 arrived broken, I want my money back."
# Well under the 30 s a query waited for a worker that never came.
ANSWER_SECONDS = 15


async def test_without_a_worker_status_transcript_and_watch_read_the_history(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"stuck-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(order_desk_script) as llm:
        env = process_env(target(dev_env), queue, tmp_path / "ledger.db", **model_env(llm))
        with worker_process(env, tmp_path / "worker.log"):
            waiting = cli(env, "run", REFUND, "--id", f"{queue}-refund", "--detach")
            assert waiting.returncode == 0, waiting.stderr
            await cli_until(env, ["status", f"{queue}-refund"], "awaiting_approval")
            llm.enqueue(*[Fail(500)] * 20)  # every model call fails from now on
            started = cli(
                env, "run", "Where is order A-1003?", "--id", f"{queue}-retry", "--detach"
            )
            assert started.returncode == 0, started.stderr
            await activities_when(
                dev_env.client.get_workflow_handle(f"{queue}-retry"),
                lambda pending: any(p.attempt >= 3 for p in pending),
                "the model call never got to attempt 3",
                within=60,
                every=0.2,
            )
        # The worker has stopped (SIGTERM): nobody answers queries now.
        retrying = cli(env, "status", f"{queue}-retry", timeout=ANSWER_SECONDS)
        approval = cli(env, "status", f"{queue}-refund", "--json", timeout=ANSWER_SECONDS)
        transcript = cli(env, "transcript", f"{queue}-refund", timeout=ANSWER_SECONDS)
        watch = Spawned(env, "watch", f"{queue}-refund")
        await watch.wait_for("no worker is polling", seconds=ANSWER_SECONDS)
        await watch.wait_for("→ issue_refund(", seconds=5)
        watch.interrupt()
        watched = await watch.finish()

    no_worker = f"no worker is polling task queue {queue!r}"
    assert retrying.returncode == 0, retrying.stderr
    assert f"(from the run's history: {no_worker})" in retrying.stdout
    found = re.search(
        r"retrying llm order-desk model · turn 1 · agent spec recorded: "
        r"attempt (\d+) failed \(ProviderUnavailable: "
        r"500 from .*: scripted server error\); attempt (\d+) of 10 "
        r"(at \d\d:\d\d:\d\d UTC|running)",  # or its worker stopped while it ran
        retrying.stdout,
    )
    assert found, retrying.stdout
    assert int(found[2]) == int(found[1]) + 1 >= 3

    shown = json.loads(approval.stdout)
    assert shown["source"] == "history" and shown["why"] == no_worker
    assert shown["status"] == "awaiting_approval" and shown["turn"] == 2
    [wait] = shown["waiting"]
    assert wait["what"].startswith(
        'waiting for a person to approve issue_refund({"order_id": "A-1001", "reason": '
    )
    assert f"tether approve {queue}-refund --call call_" in wait["what"]

    assert transcript.returncode == 0, transcript.stderr
    assert transcript.stdout.startswith(f"(from the run's history: {no_worker})\n")
    assert f"user: {REFUND}" in transcript.stdout
    assert '  → lookup_order({"order_id": "A-1001"})' in transcript.stdout

    assert watched.returncode == 130
    assert '  → lookup_order({"order_id": "A-1001"})' in watched.stdout
    assert "⏸ waits until " in watched.stderr
    assert f"(stopped following: run {queue}-refund goes on" in watched.stderr


def raising(messages: list[dict[str, object]]) -> Step:
    raise KeyError("order")  # a script with a bug


async def test_run_says_each_retry_and_a_broken_script_fails_at_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with ScriptedLLM(raising) as llm:
        llm.enqueue(Fail(500), Fail(500), Fail(500))
        env = process_env(
            target(dev_env),
            f"stuck-{uuid.uuid4().hex[:8]}",
            tmp_path / "ledger.db",
            **model_env(llm),
        )
        with worker_process(env, tmp_path / "worker.log"):
            done = cli(env, "run", "Where is order A-1003?", "--yes")
        asked = llm.request_count
    assert done.returncode == 1, done.stderr
    # Said as it happens, not four silent minutes: each failed attempt and the next one.
    assert re.search(
        r"⟳ retrying llm order-desk model · turn 1 · agent spec recorded: "
        r"attempt \d failed \(ProviderUnavailable: "
        r".*\); attempt \d of 10 at \d\d:\d\d:\d\d UTC",
        done.stderr,
    ), done.stderr
    # The script's bug is said as what it is, and not retried.
    assert asked == 4
    assert (
        "failed (ScriptFailed): the scripted model could not answer: the script for agent "
        "'order-desk' raised KeyError: 'order'"
    ) in done.stderr
    assert "LlmUnreachable" not in done.stderr


async def test_an_edited_approval_runs_with_the_edited_arguments_offline(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    env = process_env(target(dev_env), f"stuck-{uuid.uuid4().hex[:8]}", ledger)
    edited = '{"order_id": "A-1001", "reason": "arrived broken (photo checked)"}'
    with worker_process(env, tmp_path / "worker.log"):  # the worker's own offline model
        started = cli(env, "run", REFUND, "--detach", "--json")
        run_id = json.loads(started.stdout)["workflow_id"]
        waiting = await cli_until(env, ["status", run_id], "awaiting_approval")
        approved = cli(env, "approve", run_id, "--call", call_in(waiting), "--arguments", edited)
        watched = cli(env, "watch", run_id)
    assert approved.returncode == 0, approved.stderr
    # What the run will do, as the run said it: the edited arguments.
    assert approved.stdout.startswith(f"approved issue_refund({edited}) · call call_")
    assert watched.returncode == 0, watched.stderr
    assert "I've refunded $42.00 for your Ceramic teapot (order A-1001)" in watched.stdout
    with sqlite3.connect(ledger) as db:
        reasons = [row[0] for row in db.execute("SELECT reason FROM refunds")]
    assert reasons == ["arrived broken (photo checked)"]


async def test_every_command_reads_a_pipeline_run(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = process_env(target(dev_env), f"stuck-{uuid.uuid4().hex[:8]}", tmp_path / "ledger.db")
    ticket = "Order A-1004: the headphones are damaged, refund me."
    with worker_process(env, tmp_path / "worker.log"):
        started = cli(env, "pipeline", ticket, "--detach", "--json")
        run_id = json.loads(started.stdout)["workflow_id"]
        waiting = await cli_until(env, ["status", run_id], "awaiting_approval")
        listed = await cli_until(env, ["list", "--status", "running"], run_id)
        transcript = cli(env, "transcript", run_id)
        chat = cli(env, "chat", "--id", run_id)
        approved = cli(env, "approve", run_id, "--call", call_in(waiting))
        watched = cli(env, "watch", run_id)
    assert f"{run_id}  running  OrderRefundFlow" in listed
    assert transcript.returncode == 0, transcript.stderr
    assert f"user: {ticket}" in transcript.stdout
    assert 'assistant: {"wants_refund":true,"order_id":"A-1004"' in transcript.stdout
    assert chat.returncode == 2
    assert chat.stderr == f"tether: run {run_id!r} is not a chat; start one with tether chat\n"
    assert approved.returncode == 0, approved.stderr
    assert watched.returncode == 0, watched.stderr
    assert "outcome refunded · order_id A-1004" in watched.stdout


async def test_a_failed_pipeline_says_why_in_status_and_list(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with ScriptedLLM() as llm:
        llm.enqueue(context_length_exceeded())
        env = process_env(
            target(dev_env),
            f"stuck-{uuid.uuid4().hex[:8]}",
            tmp_path / "ledger.db",
            **model_env(llm),
        )
        run_id = f"{env['TETHER_TASK_QUEUE']}-pipeline"
        with worker_process(env, tmp_path / "worker.log"):
            ran = cli(env, "pipeline", REFUND, "--id", run_id)
            status = cli(env, "status", run_id)
            listed = await cli_until(env, ["list", "--status", "failed"], run_id)
    assert ran.returncode == 1
    assert "failed (ContextLengthExceeded): 400 from" in ran.stderr
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].endswith(" · OrderRefundFlow · failed")
    assert any(line.startswith("  error: ContextLengthExceeded: 400 from") for line in lines)
    assert "  failed  OrderRefundFlow" in listed
