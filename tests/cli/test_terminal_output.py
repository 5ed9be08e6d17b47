"""What a model or a tool writes reaches the terminal as text: escape sequences that
would retitle the window, clear the screen or hide text are dropped, and characters
that reorder what a person reads are shown as escapes. A real `tether` CLI subprocess
reads a real run (its worker in-process, the scripted model over HTTP)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.order_desk import REGISTRY
from tests.support.processes import cli_in_background, process_env, target
from tether import AgentRun, PendingApproval
from tether._cli.common import shown_call, terminal_safe
from tether.testing import ScriptedLLM, call_tools, say, worker

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mrefund approved\x1b[0m\rA-1001\u202e4001-A"


def test_terminal_safe_keeps_text_and_drops_what_steers_the_terminal() -> None:
    assert terminal_safe(HOSTILE) == "refund approved?A-1001\\u202e4001-A"
    assert terminal_safe("line one\n\tline two · Zoë") == "line one\n\tline two · Zoë"
    call = PendingApproval(
        call_id="call_1",
        tool="issue_refund",
        arguments='{"order_id": "A-1001\u202e4001-A", "reason": "x"}',
        turn=1,
        expires_at=datetime.now(UTC),
        digest="0123456789abcdef",
    )
    assert shown_call(call) == (
        'issue_refund({"order_id": "A-1001\\u202e4001-A", "reason": "x"}) · call call_1'
        " · digest 0123456789abcdef"
    )


async def test_the_cli_prints_a_hostile_answer_and_tool_result_as_plain_text(
    dev_env: WorkflowEnvironment, ledger: Path, tmp_path: Path
) -> None:
    queue = f"terminal-{uuid.uuid4().hex[:8]}"
    env = process_env(target(dev_env), queue, ledger)
    with ScriptedLLM() as llm:
        # The model's answer, and a tool result quoting what a ticket said.
        llm.enqueue(call_tools(("lookup_order", {"order_id": HOSTILE})), say(HOSTILE))
        async with worker(dev_env.client, REGISTRY, llm, queue=queue) as w:
            run = await AgentRun.start(
                dev_env.client, "order-desk", "hi", id=f"terminal-{uuid.uuid4().hex[:8]}",
                task_queue=w.task_queue, acting_for=CUSTOMER,
            )  # fmt: skip
            await run.result()
            shown = await cli_in_background(env, "transcript", run.id)
            status = await cli_in_background(env, "status", run.id)
    assert shown.returncode == 0, shown.stderr
    for out in (shown.stdout, status.stdout):
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out
        assert "\u202e" not in out
    assert "refund approved?A-1001\\u202e4001-A" in status.stdout  # the last answer
    assert "← Error: order" in shown.stdout and "refund approved" in shown.stdout
