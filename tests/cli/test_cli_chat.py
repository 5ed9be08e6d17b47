"""Chats and prompts that never block without a word: a piped chat at an approval, a
`send` that triggers one, Ctrl-C at a prompt (of `run` and of `approve`), a named new
chat, `/end`. Real dev server, `tether worker` and the `tether` CLI as subprocesses."""

from __future__ import annotations

import os
import pty
import re
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.processes import Spawned, call_in, cli, process_env, target, worker_process

REFUND = "Order A-1001 arrived broken, I want my money back."


@pytest.fixture
def env(dev_env: WorkflowEnvironment, tmp_path: Path) -> dict[str, str]:
    return process_env(target(dev_env), f"chat-{uuid.uuid4().hex[:8]}", tmp_path / "ledger.db")


# The approval at the chat's first message, and at a later one (a different wait).
@pytest.mark.parametrize("before", ["", "Where is order A-1003?\n"], ids=["first", "later"])
async def test_a_piped_chat_at_an_approval_says_how_to_decide_and_leaves(
    env: dict[str, str], tmp_path: Path, before: str
) -> None:
    with worker_process(env, tmp_path / "worker.log"):
        left = cli(env, "chat", stdin=f"{before}{REFUND}\nthanks\n")
        chat_id = started_id(left.stdout)
        approved = cli(env, "approve", chat_id, "--call", call_in(left.stderr))
        resumed = cli(env, "chat", "--id", chat_id, stdin="")
        cancelled = cli(env, "cancel", chat_id)
    assert left.returncode == 0, left.stderr
    call = call_in(left.stderr)
    assert (
        '⏸ issue_refund({"order_id": "A-1001", "reason": "Order A-1001 arrived broken, I want '
        f'my money back."}}) · call {call} · digest 1c450b19ad540d4e waits for approval: '
        f"tether approve {chat_id} --call {call} --digest 1c450b19ad540d4e (or reject)"
    ) in left.stderr
    assert "Traceback" not in left.stderr
    assert f"left {chat_id} open; come back with: tether chat --id {chat_id}" in left.stdout
    assert approved.returncode == 0, approved.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert f"▶ attached to {chat_id}" in resumed.stdout
    assert cancelled.returncode == 0, cancelled.stderr


async def test_send_says_when_its_message_waits_for_an_approval(
    env: dict[str, str], tmp_path: Path
) -> None:
    with worker_process(env, tmp_path / "worker.log"):
        opened = cli(env, "chat", stdin="Where is order A-1003?\n")
        chat_id = started_id(opened.stdout)
        sending = Spawned(env, "send", chat_id, REFUND)
        await sending.wait_for("waits for approval: tether approve")
        approved = cli(env, "approve", chat_id, "--call", call_in(sending.stderr))
        sent = await sending.finish()
        cancelled = cli(env, "cancel", chat_id)
    assert opened.returncode == 0, opened.stderr
    assert approved.returncode == 0, approved.stderr
    assert sent.returncode == 0, sent.stderr
    assert "I've refunded $42.00" in sent.stdout
    assert cancelled.returncode == 0, cancelled.stderr


async def test_ctrl_c_at_an_approval_prompt_leaves_at_once_and_the_run_goes_on(
    env: dict[str, str], tmp_path: Path
) -> None:
    ours, terminal = pty.openpty()
    try:
        with worker_process(env, tmp_path / "worker.log"):
            asking = Spawned(
                env, "run", REFUND, "--id", f"{env['TETHER_TASK_QUEUE']}-c", stdin=terminal
            )
            await asking.wait_for("? approve issue_refund(")
            asking.interrupt()  # and no Enter after it
            stopped = await asking.finish(seconds=10)
            # The kernel may give Ctrl-C to another thread than the one running the
            # event loop, which must still wake for it (not wait for its next event).
            again = Spawned(env, "approve", f"{env['TETHER_TASK_QUEUE']}-c", stdin=terminal)
            await again.wait_for("? [y/N]")
            again.interrupt_another_thread()
            undecided_again = await again.finish(seconds=10)
            # `approve` without --call asks on the terminal too.
            deciding = Spawned(env, "approve", f"{env['TETHER_TASK_QUEUE']}-c", stdin=terminal)
            await deciding.wait_for("? [y/N]")
            deciding.interrupt()
            undecided = await deciding.finish(seconds=10)
            status = cli(env, "status", f"{env['TETHER_TASK_QUEUE']}-c")
            cancelled = cli(env, "cancel", f"{env['TETHER_TASK_QUEUE']}-c")
    finally:
        os.close(ours)
        os.close(terminal)
    assert stopped.returncode == 130
    assert (
        f"(interrupted: run {env['TETHER_TASK_QUEUE']}-c goes on, and the call waits for "
        "approval: tether approve"
    ) in stopped.stderr
    assert undecided.returncode == 130
    assert "(interrupted: nothing was sent; the call still waits)" in undecided.stderr
    assert undecided_again.returncode == 130
    assert "(interrupted: nothing was sent; the call still waits)" in undecided_again.stderr
    assert "awaiting_approval" in status.stdout
    assert cancelled.returncode == 0, cancelled.stderr


async def test_a_named_new_chat_ends_printing_its_answer_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    chat_id = f"{env['TETHER_TASK_QUEUE']}-named"
    with worker_process(env, tmp_path / "worker.log"):
        chat = cli(env, "chat", "--id", chat_id, stdin="Hello there\n/end\n")
    assert chat.returncode == 0, chat.stderr
    assert f"▶ {chat_id} · " in chat.stdout  # a new chat, under the id it was given
    answer = "Could you tell me your order number? It looks like A-1001."
    assert chat.stdout.count(answer) == 1, chat.stdout
    assert "status completed · 1 turn · " in chat.stdout


def started_id(stdout: str) -> str:
    """The id a new chat announced (`▶ ID · link`)."""
    found = re.search(r"▶ (\S+) · ", stdout)
    assert found, stdout
    return found[1]
