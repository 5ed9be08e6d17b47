"""The CLI from the event feed: `tether run` on a pseudo-terminal writes the answer as
the model writes it; `run --events` and `watch --events [--from SEQ]` print one JSON
object per event. A real dev server, the worker in this process (its model scripted,
held mid-reply where a test needs to know the reply is still being written), the CLI
(`tether`) as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.support.order_desk import REGISTRY
from tests.support.processes import cli_command, cli_in_background, process_env, target
from tether import AgentRun
from tether.testing import ScriptedLLM, Streamed, call_tools, say, worker

ANSWER = (
    "Your order A-1003 shipped on Monday — it's due by Friday.\nSorry for the wait, naïve café ☕"
)
FIRST_WORDS = "Your order A-1003 shipped"
WITHIN = 60.0


class Terminal:
    """The `tether` CLI with its stdout on a pseudo-terminal, read as it comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        ours, theirs = pty.openpty()
        self.proc = subprocess.Popen(
            cli_command(*args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=theirs,
            stderr=subprocess.PIPE,
        )
        os.close(theirs)
        self._fd = ours
        self._out = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            self._out += chunk

    @property
    def text(self) -> str:
        return self._out.decode(errors="replace").replace("\r\n", "\n")

    async def wait_for(self, text: str) -> None:
        async with asyncio.timeout(WITHIN):
            while text not in self.text:
                assert self.proc.poll() is None, f"exited without {text!r}:\n{self.text}"
                await asyncio.sleep(0.05)

    async def finish(self) -> int:
        await asyncio.wait_for(asyncio.to_thread(self.proc.wait), WITHIN)
        self._reader.join(timeout=5)
        os.close(self._fd)
        return self.proc.returncode


async def test_run_on_a_terminal_shows_the_first_tokens_before_the_model_call_ends(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"cli-stream-{uuid.uuid4().hex[:8]}"
    env = process_env(target(dev_env), queue, tmp_path / "ledger.db")
    run_id = f"{queue}-run"
    resume = threading.Event()
    with ScriptedLLM() as llm:
        llm.enqueue(Streamed(say(ANSWER), delay=0.01, pause_after=5, resume=resume))
        async with worker(dev_env.client, REGISTRY, llm, queue=queue):
            terminal = Terminal(env, "run", "Where is A-1003?", "--id", run_id)
            try:
                await terminal.wait_for(FIRST_WORDS)
                run = AgentRun.attach(dev_env.client, run_id)
                # The model is held mid-reply: its call has not returned, and the first
                # words are on the terminal.
                assert (await run.handle.describe()).raw_description.pending_activities
                assert llm.request_count == 1
                shown_while_writing = terminal.text
            finally:
                resume.set()
            code = await terminal.finish()
    out = terminal.text
    assert code == 0, out
    assert "status completed" not in shown_while_writing
    assert ANSWER not in shown_while_writing  # only its first words, so far
    # The answer once, written as it came, then the run's status line.
    assert out.count(ANSWER) == 1, out
    assert out.index(ANSWER) < out.index("status completed")


def event_lines(stdout: str) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in stdout.splitlines()]
    except ValueError:
        raise AssertionError(f"not one JSON object per line:\n{stdout}") from None


def joined_text(events: list[dict[str, Any]], turn: int) -> str:
    text = ""
    for e in events:
        if e["type"] == "text_delta" and e["turn"] == turn:
            text = e["text"] if e["restart"] else text + e["text"]
    return text


async def test_run_and_watch_print_events_as_json_lines_and_resume_at_an_offset(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"cli-events-{uuid.uuid4().hex[:8]}"
    env = process_env(target(dev_env), queue, tmp_path / "ledger.db")
    run_id = f"{queue}-run"
    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("lookup_order", {"order_id": "A-1003"})),
            # Broken off mid-reply once: the retry starts the text over.
            Streamed(say(ANSWER), delay=0.05, drop_after=8),
            Streamed(say(ANSWER), delay=0.02),
        )
        async with worker(dev_env.client, REGISTRY, llm, queue=queue):
            ran = await cli_in_background(
                env, "run", "Where is A-1003?", "--id", run_id, "--events"
            )
            watched = await cli_in_background(env, "watch", run_id, "--events")
            tail = await cli_in_background(env, "watch", run_id, "--events", "--from", "5")
    assert ran.returncode == 0, ran.stderr
    events = event_lines(ran.stdout)
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert {e["workflow_id"] for e in events} == {run_id}
    assert [e["type"] for e in events if e["type"] != "text_delta"] == [
        "user_message",
        "turn_started",
        "reply",
        "tool_call_started",
        "tool_call_finished",
        "turn_started",
        "reply",
        "run_ended",
    ]
    assert joined_text(events, 2) == ANSWER
    assert any(e["type"] == "text_delta" and e["restart"] for e in events)
    assert events[-1]["answer"] == ANSWER and events[-1]["status"] == "completed"
    # Read again later, whole or from an offset: each event once, none lost.
    assert watched.returncode == 0 and tail.returncode == 0, watched.stderr + tail.stderr
    again = event_lines(watched.stdout)
    assert [e["seq"] for e in again] == list(range(len(again)))
    assert event_lines(tail.stdout) == again[5:]
    assert joined_text(again, 2) == ANSWER
