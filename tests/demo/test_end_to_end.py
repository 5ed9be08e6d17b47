"""End to end on a real dev server: worker and starter as real subprocesses."""

from __future__ import annotations

import json
import os
import pty
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import count_rows
from tests.support.processes import STARTER, cli_until, demo_env, demo_worker, starter, target
from tests.support.waiting import first
from tether.testing import wait_for_approvals
from workflows.refund_pipeline_types import RefundResult


async def test_starter_runs_the_demo_to_one_email(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)
    with demo_worker(env, tmp_path / "worker.log"):
        done = starter(
            env, "run", "Order A-1001 arrived broken, I want my money back.", "--yes", "--json"
        )
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
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", tmp_path / "shop.db")
    with demo_worker(env, tmp_path / "worker.log"):
        shown = starter(env, "run", "Where is order A-1003?", "--id", "e2e-follow")
        again = starter(env, "run", "Where is order A-1003?", "--id", "e2e-follow")
        detached = starter(env, "run", "Where is A-1002?", "--detach", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "→ lookup_order" in shown.stdout
    assert "A-1003 (Desk lamp) is shipped" in shown.stdout
    assert "/namespaces/default/workflows/e2e-follow/" in shown.stdout
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "starter.py: a run with id 'e2e-follow' already exists; choose another id (--id)"
    )
    assert detached.returncode == 0, detached.stderr
    assert json.loads(detached.stdout)["workflow_id"].startswith("support-desk-")


async def wait_for_status(env: dict[str, str], workflow_id: str, status: str) -> dict[str, Any]:
    async def shown() -> subprocess.CompletedProcess[str]:
        return starter(env, "status", workflow_id, "--json")

    done = await first(
        shown,
        lambda done: done.returncode == 0 and json.loads(done.stdout)["status"] == status,
        f"{workflow_id} never became {status}",
        within=60,
        every=0.2,
    )
    return dict(json.loads(done.stdout))


async def test_a_refund_waits_for_approval_from_another_process(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)
    prompt = "Order A-1001 arrived broken, I want my money back."
    with demo_worker(env, tmp_path / "worker.log"):
        started = starter(env, "run", prompt, "--detach", "--json")
        assert started.returncode == 0, started.stderr
        run_id = json.loads(started.stdout)["workflow_id"]
        state = await wait_for_status(env, run_id, "awaiting_approval")
        shown = starter(env, "status", run_id)
        listed = await listed_with_status(env, "awaiting_approval", run_id)
        wrong = starter(env, "approve", run_id, "--call", "call_nope")
        (pending,) = state["pending_approvals"]
        unnamed = starter(env, "approve", run_id)  # no terminal showed it: refused
        stale = starter(env, "approve", run_id, "--call", pending["call_id"], "--digest", "0" * 16)
        approver = {**env, "TETHER_IDENTITY": "grace@support"}
        approved = starter(
            approver, "approve", run_id, "--call", pending["call_id"], "--digest", pending["digest"]
        )
        watched = starter(env, "watch", run_id, "--json")
        transcript = starter(env, "transcript", run_id)
        unknown = starter(env, "status", "no-such-run")

    assert pending["tool"] == "issue_refund"
    assert json.loads(pending["arguments"])["order_id"] == "A-1001"
    assert "waiting for approval: issue_refund(" in shown.stdout
    call, digest = pending["call_id"], pending["digest"]
    assert f"call {call} · digest {digest}" in shown.stdout
    assert (
        f"to approve: starter.py approve {run_id} --call {call} --digest {digest}" in shown.stdout
    )
    assert unnamed.returncode == 2 and "name the call to approve with --call" in unnamed.stderr
    assert stale.returncode == 2 and "waits with other arguments than digest" in stale.stderr
    assert run_id in listed
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        f"starter.py: no tool call 'call_nope' waits for approval (waiting: {pending['call_id']})"
    )
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == (
        f"approved issue_refund({pending['arguments']}) · call {call} · digest {digest}"
        f" · by grace@support · run {run_id}"
    )
    assert watched.returncode == 0, watched.stderr
    result = json.loads(watched.stdout)
    assert result["status"] == "completed"
    assert "refunded $42.00" in result["answer"]
    with sqlite3.connect(shop) as db:
        assert db.execute("SELECT approved_by FROM refunds").fetchall() == [("grace@support",)]
    assert count_rows(shop, "outbox") == 1
    assert "→ issue_refund(" in transcript.stdout
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "starter.py: no run with id 'no-such-run'"


async def listed_with_status(env: dict[str, str], status: str, workflow_id: str) -> str:
    """`list --status` output once it shows the run (visibility trails by a moment)."""
    return await cli_until(env, ["list", "--status", status], workflow_id, program=STARTER)


async def test_a_chat_from_the_cli_can_be_left_sent_to_and_cancelled(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", tmp_path / "shop.db")
    with demo_worker(env, tmp_path / "worker.log"):
        chat = starter(env, "chat", "--id", "e2e-chat-new", stdin="")
        opened = starter(env, "chat", stdin="Where is order A-1003?\n")
        chat_id = opened.stdout.split("come back with: starter.py chat --id ")[-1].strip()
        sent = starter(env, "send", chat_id, "And order A-1002?", "--json")
        empty = starter(env, "send", chat_id, "  ")
        cancelled = starter(env, "cancel", chat_id)
        again = starter(env, "cancel", chat_id)
        state = starter(env, "status", chat_id, "--json")
        transcript = starter(env, "transcript", chat_id, "--json")

    assert chat.returncode == 0 and "▶" not in chat.stdout  # nothing typed, nothing started
    assert opened.returncode == 0, opened.stderr
    assert "agent> Order A-1003 (Desk lamp) is shipped" in opened.stdout
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["reply"].startswith("Order A-1002")
    assert empty.returncode == 2 and empty.stderr.strip() == "starter.py: the message is empty"
    assert cancelled.returncode == 0, cancelled.stderr
    assert again.returncode == 2 and "has already ended (cancelled)" in again.stderr
    assert json.loads(state.stdout)["status"] == "cancelled"
    users = [m["content"] for m in json.loads(transcript.stdout) if m["role"] == "user"]
    assert users == ["Where is order A-1003?", "And order A-1002?"]


async def test_run_asks_for_approval_on_a_terminal(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)
    ours, terminal = pty.openpty()
    # The answer waits in the terminal's line buffer until the prompt reads it.
    os.write(ours, b"y\n")
    try:
        with demo_worker(env, tmp_path / "worker.log"):
            done = starter(env, "run", "A-1001 arrived broken, refund", stdin=terminal)
    finally:
        os.close(ours)
        os.close(terminal)

    assert done.returncode == 0, done.stderr
    assert '? approve issue_refund({"order_id": "A-1001"' in done.stdout
    assert "refunded $42.00" in done.stdout
    assert count_rows(shop, "refunds") == 1


async def test_approve_without_a_call_id_shows_the_call_on_a_terminal_and_asks(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)

    def approve_on_a_terminal(run_id: str, answer: bytes) -> subprocess.CompletedProcess[str]:
        ours, terminal = pty.openpty()
        os.write(ours, answer)  # read by the prompt, once it has shown the call
        try:
            return starter(env, "approve", run_id, stdin=terminal)
        finally:
            os.close(ours)
            os.close(terminal)

    with demo_worker(env, tmp_path / "worker.log"):
        started = starter(env, "run", "A-1001 arrived broken, refund", "--detach", "--json")
        run_id = json.loads(started.stdout)["workflow_id"]
        state = await wait_for_status(env, run_id, "awaiting_approval")
        declined = approve_on_a_terminal(run_id, b"n\n")
        assert count_rows(shop, "refunds") == 0
        approved = approve_on_a_terminal(run_id, b"y\n")
        watched = starter(env, "watch", run_id, "--json")

    (pending,) = state["pending_approvals"]
    shown = f"approve issue_refund({pending['arguments']}) · call {pending['call_id']}"
    assert declined.returncode == 2 and declined.stdout.startswith(shown)
    assert "not approved: nothing was sent" in declined.stderr
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(shown)
    assert json.loads(watched.stdout)["status"] == "completed"
    assert count_rows(shop, "refunds") == 1


async def test_starter_runs_the_pipeline_and_approves_its_refund(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)
    ticket = "Order A-1004: the headphones are damaged, refund me."
    with demo_worker(env, tmp_path / "worker.log"):
        shown = starter(env, "pipeline", "Order A-1001 arrived broken, I want my money back.")
        detached = starter(env, "pipeline", ticket, "--detach", "--json")
        run_id = json.loads(detached.stdout)["workflow_id"]
        handle = dev_env.client.get_workflow_handle(run_id, result_type=RefundResult)
        (call,) = await wait_for_approvals(handle)
        waiting = starter(env, "status", run_id)
        approved = starter(env, "approve", run_id, "--call", call.call_id)
        result = await handle.result()
        watched = starter(env, "watch", run_id)
        described = await handle.describe()
    assert await described.static_summary() == f"RefundPipelineWorkflow: {ticket}"
    assert shown.returncode == 0, shown.stderr
    assert "· policy: allows a refund" in shown.stdout  # the steps, as they happen
    assert "· send_email: confirmation to ada@example.com" in shown.stdout
    assert "outcome refunded · order_id A-1001 · refunded 42.0 · llm_calls 2" in shown.stdout
    assert waiting.returncode == 0, waiting.stderr
    assert f"{run_id} · RefundPipelineWorkflow · awaiting_approval" in waiting.stdout
    assert "waiting for approval: issue_refund(" in waiting.stdout
    assert approved.returncode == 0, approved.stderr
    assert watched.returncode == 0, watched.stderr
    assert "outcome refunded · order_id A-1004 · refunded 899.0 · llm_calls 2" in watched.stdout
    assert approved.stdout.startswith("approved issue_refund(")
    assert result.outcome == "refunded" and result.approvals == 1
    assert count_rows(shop, "refunds") == 2


async def test_status_says_who_decided_each_refund_and_under_which_rule(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    env = demo_env(target(dev_env), f"e2e-{uuid.uuid4().hex[:8]}", shop)
    small_ticket = "Order A-1001 arrived broken, I want my money back."
    judged_ticket = "Order A-1005: I changed my mind about the espresso machine, refund it."
    with demo_worker(env, tmp_path / "worker.log"):
        small = json.loads(starter(env, "pipeline", small_ticket, "--detach", "--json").stdout)
        judged = json.loads(starter(env, "pipeline", judged_ticket, "--detach", "--json").stdout)
        handle = dev_env.client.get_workflow_handle(judged["workflow_id"], result_type=RefundResult)
        (call,) = await wait_for_approvals(handle)
        waiting = starter(env, "status", handle.id)
        rejected = starter(env, "reject", handle.id, "--call", call.call_id, "--reason", "no")
        await handle.result()
        # Asked again, the judge refuses again, and the person on the terminal approves.
        again = starter(env, "pipeline", judged_ticket, "--yes", "--json")
        await dev_env.client.get_workflow_handle(small["workflow_id"]).result()
        decided = starter(env, "status", json.loads(again.stdout)["workflow_id"])
        by_rule = starter(env, "status", small["workflow_id"])
    assert rejected.returncode == 0, rejected.stderr
    # Nobody was asked for $42: the rule decided, on the arguments that ran.
    assert re.search(
        r"decided: approved issue_refund \(call issue_refund\) by policy \(small refund\) · "
        r"digest [0-9a-f]{16} · rule 'small refund' \(allow\)",
        by_rule.stdout,
    ), by_rule.stdout
    # $249 went to the judge, who refused; a person decides, shown why.
    said = (
        "rule 'refund a judge reviews' (ask judge) · judge tether-scripted said refuse: No "
        "damage is reported for this $249.0 refund"
    )
    assert f"asked by the approval policy: {said}" in waiting.stdout
    assert f"  ⚖ {said}" in again.stderr  # before the terminal's approval
    assert re.search(
        r"decided: approved issue_refund \(call issue_refund\) by \S+ · digest [0-9a-f]{16} · "
        r"rule 'refund a judge reviews' \(ask judge\) · judge tether-scripted said refuse",
        decided.stdout,
    ), decided.stdout
    assert json.loads(again.stdout)["outcome"] == "refunded"
