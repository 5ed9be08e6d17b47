"""Tools from MCP servers: a real server (tests/support/mcp_server.py, written with the `mcp`
package) run as a stdio subprocess of the worker and as a streamable-HTTP server on
loopback; the scripted model calls its tools through Tether's activities.

Covered: calls and bad arguments (never sent), `isError` back to the model, the
idempotency key in `_meta`, a server killed mid-call (retried, run completes), a worker
SIGKILLed mid-call (the note written once), approvals, a tool list changed under a run
(the run keeps its own and replays), a stateful server's lost session (one attempt, a
clear failure), cancellation reaching the server, and a server that does not start.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import retried_activities
from tests.support.mcp_agents import (
    NAME,
    SERVER,
    SIDE_EFFECTS,
    calls,
    http_notes,
    notetaker,
    stdio_notes,
)
from tests.support.processes import ROOT, free_port, model_env, process_env, target, tether_worker
from tests.support.runs import key_of
from tests.support.waiting import until
from tether import Agent, AgentRun, McpServer
from tether._process import stop
from tether._replay import replay
from tether._temporal import TETHER_CONVERTER
from tether._tool_options import ToolOptions
from tether._wire import MCP_TOOL_ACTIVITY
from tether.testing import SIGNER, ScriptedLLM, Slow, call_tools, say, wait_for_approvals, worker
from tether.workflow import AgentWorkflow

AGENTS = "tests.support.mcp_agents:REGISTRY"  # what the tests' `tether worker` processes serve
FAILS_OVER = 60  # seconds: a retry waits out a dead worker's heartbeat timeout (10 s)
OUTAGE_SECONDS = 40


def notes_written(notes: Path) -> list[str]:
    with sqlite3.connect(notes / "notes.db") as db:
        return [row[0] for row in db.execute("SELECT text FROM notes ORDER BY id")]


def written(notes: Path) -> Callable[[], Awaitable[bool]]:
    """Whether a note is written: `add_note` then hangs if told to (see mcp_server.py).
    The call's log line comes before the write, so a kill must wait for this."""

    async def check() -> bool:
        try:
            return bool(notes_written(notes))
        except sqlite3.OperationalError:  # no table yet: the server has not started
            return False

    return check


def tool_messages(llm: ScriptedLLM, request: int) -> list[str]:
    return [str(m["content"]) for m in llm.requests[request].messages if m["role"] == "tool"]


def shown_tools(llm: ScriptedLLM, request: int) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in llm.requests[request].body["tools"]}


async def start(env: WorkflowEnvironment, queue: str, prompt: str = "take a note") -> AgentRun:
    return await AgentRun.start(env.client, NAME, prompt, task_queue=queue)


class HttpServer:
    """tests/support/mcp_server.py over streamable HTTP on a free loopback port, as a process the
    test can kill and start again on the same port."""

    def __init__(self, notes: Path) -> None:
        self.notes = notes
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "NOTES_DIR": str(self.notes)}
        self._proc = subprocess.Popen(
            [sys.executable, str(SERVER), "http", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(self.notes / "http-server.log").open("ab"),
        )
        deadline = time.monotonic() + 30
        while not _listening(self.port):
            assert self._proc.poll() is None, "the MCP server exited"
            assert time.monotonic() < deadline, f"no MCP server on port {self.port}"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            stop(self._proc)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def http_server(notes: Path) -> Iterator[HttpServer]:
    server = HttpServer(notes)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_an_agent_calls_a_stdio_servers_tools(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    agent = notetaker(stdio_notes(tmp_path))
    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("add_note", {"text": "buy milk"})),
            call_tools(
                ("find_note", {"number": 1}),
                ("find_note", {"number": 7}),
                ("find_note", {"number": "seven"}),
                ("find_note", "{not json"),
            ),
            say("Noted."),
        )
        async with worker(ts_env.client, agent, llm) as w:
            result = await (await start(ts_env, w.task_queue)).result()
    assert result.status == "completed"
    tools = shown_tools(llm, 0)
    assert set(tools) == {"add_note", "list_notes", "find_note"}
    # The server's own schema and description, not made strict.
    assert tools["find_note"]["strict"] is False
    assert tools["find_note"]["parameters"]["required"] == ["number"]
    assert tools["find_note"]["description"] == "The text of note `number`."
    assert tool_messages(llm, 1) == ["note 1"]
    found, missing, invalid, malformed = tool_messages(llm, 2)[1:]
    assert found == "buy milk"
    # The server's isError result is the call's result.
    assert missing == "Error: Error executing tool find_note: there is no note 7"
    assert invalid.startswith("Error: invalid arguments for find_note: number: 'seven' is not")
    assert malformed.startswith("Error: the arguments for find_note are not valid JSON")
    # Bad arguments were answered before any call: the server saw two find_note calls.
    assert len(calls(tmp_path, "find_note")) == 2


async def test_an_agent_calls_a_streamable_http_servers_tools_with_the_idempotency_key(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with http_server(tmp_path) as server, ScriptedLLM() as llm:
        agent = notetaker(http_notes(server.url, options=SIDE_EFFECTS))
        llm.enqueue(
            call_tools(("add_note", {"text": "call Ann"})),
            call_tools(("list_notes", {})),
            say("Done."),
        )
        async with worker(ts_env.client, agent, llm) as w:
            run = await start(ts_env, w.task_queue)
            result = await run.result()
    assert result.status == "completed"
    assert tool_messages(llm, 2) == ["note 1", "1. call Ann"]
    (call,) = next(m for m in llm.requests[1].messages if m["role"] == "assistant")["tool_calls"]
    # Side-effecting: its key in `_meta`; a read-only tool's calls carry none.
    assert [c["key"] for c in calls(tmp_path)] == [key_of(run.handle, 1, call["id"])]
    assert [c["key"] for c in calls(tmp_path, "list_notes")] == [None]


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_server_killed_mid_call_is_retried_and_the_run_completes(
    ts_env: WorkflowEnvironment, tmp_path: Path, transport: str
) -> None:
    (tmp_path / "hang-once").touch()
    with ScriptedLLM() as llm, http_server(tmp_path) as http:
        server = (
            stdio_notes(tmp_path, options=SIDE_EFFECTS)
            if transport == "stdio"
            else http_notes(http.url, options=SIDE_EFFECTS)
        )
        llm.enqueue(call_tools(("add_note", {"text": "water plants"})), say("Noted."))
        async with worker(ts_env.client, notetaker(server), llm) as w:
            run = await start(ts_env, w.task_queue)

            await until(written(tmp_path), "add_note never wrote its note")
            (first,) = calls(tmp_path)
            if transport == "stdio":
                os.kill(first["pid"], signal.SIGKILL)  # the worker starts it again
            else:
                http.kill()
                http.start()
            result = await asyncio.wait_for(run.result(), FAILS_OVER)
    assert result.status == "completed"
    assert tool_messages(llm, 1) == ["note 1 (written before)"]
    first, second = calls(tmp_path)
    assert first["key"] == second["key"]
    if transport == "stdio":
        assert first["pid"] != second["pid"]
    assert notes_written(tmp_path) == ["water plants"]
    assert await retried_activities(run.handle) == [(MCP_TOOL_ACTIVITY, 2)]


async def test_a_side_effecting_mcp_tool_happens_once_when_the_worker_is_killed(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A real `tether worker` process dies (SIGKILL) while the server runs `add_note`,
    after the note is written; a new worker retries the call with the same key."""
    (tmp_path / "hang-once").touch()
    queue = f"mcp-crash-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM() as llm, http_server(tmp_path) as server:
        llm.enqueue(call_tools(("add_note", {"text": "pay rent"})), say("Noted."))
        env = process_env(
            target(dev_env),
            queue,
            tmp_path / "ledger.db",
            **model_env(llm),
            NOTES_URL=server.url,
        )
        with tether_worker(env, tmp_path / "first.log", AGENTS) as first:
            run = await start(dev_env, queue)

            await until(written(tmp_path), "add_note never wrote its note", within=60)
            first.kill()
            first.wait()
        with tether_worker(env, tmp_path / "second.log", AGENTS):
            result = await asyncio.wait_for(run.result(), FAILS_OVER)
    assert result.status == "completed"
    assert notes_written(tmp_path) == ["pay rent"]
    first_call, retry = calls(tmp_path)
    assert first_call["key"] == retry["key"] and first_call["key"].startswith(
        key_of(run.handle, 1, "")
    )
    assert tool_messages(llm, 1) == ["note 1 (written before)"]
    assert await retried_activities(run.handle) == [(MCP_TOOL_ACTIVITY, 2)]


async def test_approvals_hold_mcp_calls_until_a_person_decides(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    approve = {"add_note": ToolOptions(side_effects=True, needs_approval=True)}
    agent = notetaker(stdio_notes(tmp_path, options=approve))
    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("add_note", {"text": "keep"}), ("add_note", {"text": "drop"})),
            say("One noted."),
        )
        async with worker(ts_env.client, agent, llm) as w:
            run = await start(ts_env, w.task_queue)
            keep, drop = await wait_for_approvals(run.handle, 2)
            assert calls(tmp_path) == []  # nothing reached the server before a decision
            await run.approve(keep, signer=SIGNER)
            await run.reject(drop, signer=SIGNER, reason="not needed")
            result = await run.result()
    assert result.status == "completed"
    assert notes_written(tmp_path) == ["keep"]
    assert len(calls(tmp_path)) == 1
    assert tool_messages(llm, 1)[0] == "note 1"


async def test_a_run_keeps_the_tools_it_listed_when_the_server_changes_them(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The run lists v1's tools and pauses for an approval; the worker is replaced by one
    whose server is v2 (`find_note` renamed `get_note`). The run goes on with v1's list,
    a new run gets v2's, and the first run's history replays without asking a server."""
    queue = f"mcp-change-{uuid.uuid4().hex[:8]}"
    approve = {"add_note": ToolOptions(side_effects=True, needs_approval=True)}
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("add_note", {"text": "v1 note"})))
        v1 = notetaker(stdio_notes(tmp_path, "1", options=approve))
        async with worker(dev_env.client, v1, llm, queue=queue):
            run = await start(dev_env, queue)
            [pending] = await run.wait_for_approval()
        llm.enqueue(say("Noted."), say("Hello."))
        v2 = notetaker(stdio_notes(tmp_path, "2", options=approve))
        async with worker(dev_env.client, v2, llm, queue=queue):
            await run.approve(pending, signer=SIGNER)
            assert (await run.result()).status == "completed"
            fresh = await start(dev_env, queue, "hello")
            await fresh.result()
    before, after_change, new_run = (set(shown_tools(llm, i)) for i in range(3))
    assert before == after_change == {"add_note", "list_notes", "find_note"}
    assert new_run == {"add_note", "list_notes", "get_note"}
    assert tool_messages(llm, 1) == ["note 1"]  # called on the v2 server, as recorded
    history = await run.handle.fetch_history()
    [verdict] = await replay([history], workflows=[AgentWorkflow], converter=TETHER_CONVERTER)
    assert verdict.compatible, verdict.problem


async def test_a_stateful_servers_lost_session_fails_the_call_once_and_clearly(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    approve = {"add_note": ToolOptions(needs_approval=True)}
    agent = notetaker(stdio_notes(tmp_path, options=approve, stateful=True))
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("list_notes", {})), call_tools(("add_note", {"text": "x"})))
        async with worker(ts_env.client, agent, llm) as w:
            run = await start(ts_env, w.task_queue)
            [pending] = await run.wait_for_approval()
            (listed,) = calls(tmp_path, "list_notes")
            os.kill(listed["pid"], signal.SIGKILL)  # the session's state goes with it
            await run.approve(pending, signer=SIGNER)
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(run.result(), 30)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "McpSessionLost"
    assert "is stateful, and the session" in cause.message
    assert calls(tmp_path) == []  # the call never reached a fresh session
    assert await retried_activities(run.handle) == []  # one attempt


async def test_cancelling_a_run_cancels_the_call_on_the_server(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "hang-once").touch()
    agent = notetaker(stdio_notes(tmp_path))
    with ScriptedLLM() as llm:
        llm.enqueue(call_tools(("add_note", {"text": "long"})))
        async with worker(ts_env.client, agent, llm) as w:
            run = await start(ts_env, w.task_queue)

            async def hanging() -> bool:
                return bool(calls(tmp_path))

            await until(hanging, "add_note never reached the server")
            await run.cancel()

            async def cancelled_there() -> bool:
                return bool(calls(tmp_path, event="cancelled"))

            await until(cancelled_there, "the server never saw the cancellation", within=20)
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(run.result(), 30)
            assert (await run.state()).status == "cancelled"


async def test_a_run_whose_server_does_not_start_fails_saying_why(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-server"
    agent = Agent(name=NAME, instructions="-", mcp=[McpServer.stdio("notes", [str(missing)])])
    with ScriptedLLM() as llm:
        async with worker(ts_env.client, agent, llm) as w:
            run = await start(ts_env, w.task_queue)
            with pytest.raises(WorkflowFailureError) as failed:
                await asyncio.wait_for(run.result(), 60)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "McpServerUnavailable"
    assert cause.message.startswith(f"MCP server notes (stdio: {missing}) did not start")
    assert "No such file or directory" in cause.message
    assert llm.requests == []


async def test_tether_worker_reports_a_server_that_does_not_answer_in_one_line(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    env = process_env(target(ts_env), "mcp-check", tmp_path / "ledger.db", NOTES_URL=url)
    log = tmp_path / "worker.log"
    with tether_worker(env, log, AGENTS, "--offline"):

        async def reported() -> bool:
            return "did not start or answer" in log.read_text()

        await until(reported, "the worker never reported the server", within=60)
    (line,) = [line for line in log.read_text().splitlines() if "did not start" in line]
    event = json.loads(line)["event"]
    assert event.startswith(f"MCP server notes (http: {url}) did not start or answer: ")
    assert "ConnectError" in event


MCP_PAGE = ROOT / "docs" / "guides" / "mcp.md"


def page_file(name: str) -> str:
    """The code block of docs/guides/mcp.md that starts with `# NAME`."""
    text = MCP_PAGE.read_text()
    start = text.index(f"```python\n# {name}\n") + len("```python\n")
    return text[start : text.index("```", start)]


async def test_the_docs_mcp_example_runs_as_written(
    ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("notes_server.py", "scribe.py"):
        (tmp_path / name).write_text(page_file(name))
    monkeypatch.chdir(tmp_path)  # where the worker starts `notes_server.py`
    spec = importlib.util.spec_from_file_location("scribe", tmp_path / "scribe.py")
    assert spec is not None and spec.loader is not None
    scribe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scribe)
    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("add_note", {"text": "call the plumber"})),
            call_tools(("list_notes", {})),
            say("Noted."),
        )
        async with worker(ts_env.client, scribe.REGISTRY, llm) as w:
            run = await AgentRun.start(ts_env.client, "scribe", "note it", task_queue=w.task_queue)
            [call] = await run.wait_for_approval()
            await run.approve(call, signer=SIGNER)
            assert (await run.result()).status == "completed"
    assert tool_messages(llm, 2) == ["1 notes", "call the plumber"]


def test_mcp_servers_need_the_mcp_extra() -> None:
    """Without the `mcp` package, agents without MCP servers are served as ever, and
    declaring a server says which extra to install."""
    code = (
        "import sys; sys.modules['mcp'] = sys.modules['jsonschema'] = None\n"
        "from tether import Agent, McpServer, TetherPlugin\n"
        "TetherPlugin(Agent(name='plain', instructions='-'))\n"
        "try:\n    McpServer.http('x', 'http://127.0.0.1:1/mcp')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (
        done.stdout.strip()
        == "MCP servers need Tether's `mcp` extra: pip install 'tether-agents[mcp]'"
    )


def test_bad_mcp_server_declarations_are_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="fast=True is for read-only"):
        McpServer.http(
            "x", "http://h/mcp", options={"t": ToolOptions(fast=True, side_effects=True)}
        )
    with pytest.raises(ValueError, match=r"options for tools not taken: \['b'\]"):
        McpServer.http("x", "http://h/mcp", tools=["a"], options={"b": ToolOptions(fast=True)})
    with pytest.raises(ValueError, match="not an http"):
        McpServer.http("x", "ftp://h/mcp")
    with pytest.raises(ValueError, match="two MCP servers share a name"):
        server = McpServer.http("x", "http://h/mcp")
        Agent(name="a", instructions="-", mcp=[server, server])


async def test_a_servers_listing_and_results_are_bounded(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # Before, a server's every tool was taken (20,000 of them took a worker to 696 MB),
    # and a result was read whole, however many blocks it had.
    everything = notetaker(stdio_notes(tmp_path, "flood"))
    chosen = notetaker(stdio_notes(tmp_path, "flood", tools=["dump"]))
    with ScriptedLLM() as llm:
        async with worker(ts_env.client, everything, llm) as w:
            with pytest.raises(WorkflowFailureError) as failed:
                await (await start(ts_env, w.task_queue)).result()
        llm.enqueue(call_tools(("dump", {"blocks": 5000})), say("Dumped."))
        async with worker(ts_env.client, chosen, llm) as w:
            result = await (await start(ts_env, w.task_queue)).result()
    cause: BaseException | None = failed.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError) and cause.type == "McpToolsInvalid"
    assert cause.message == (
        f"agent {NAME!r} would take 304 tools from its MCP servers and its own, over the 128 "
        "a model is sent: take the ones it needs with tools=[...]"
    )
    assert result.status == "completed"
    (dumped,) = tool_messages(llm, 1)
    assert dumped.startswith("0000xxx") and len(dumped.encode()) < 20_000  # the agent's 16 KiB


async def test_an_mcp_server_down_for_40_seconds_does_not_fail_the_run(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The probe's run failed once its MCP server was down about 15 s (5 attempts). The
    default policy retries a tool for about 2.5 minutes: real time, on a dev server."""
    with ScriptedLLM() as llm, http_server(tmp_path) as http:
        agent = notetaker(http_notes(http.url))
        llm.enqueue(Slow(1, call_tools(("add_note", {"text": "call Ann"}))), say("Noted."))
        async with worker(dev_env.client, agent, llm) as w:
            run = await start(dev_env, w.task_queue)

            async def asked() -> bool:
                return llm.request_count == 1

            await until(asked, "the model was never asked")
            http.kill()  # before the model's reply reaches the tool
            await asyncio.sleep(OUTAGE_SECONDS)
            http.start()
            result = await asyncio.wait_for(run.result(), 120)
    assert result.status == "completed"
    assert tool_messages(llm, 1) == ["note 1"]
    assert notes_written(tmp_path) == ["call Ann"]
    [(kind, attempt)] = await retried_activities(run.handle)
    assert kind == MCP_TOOL_ACTIVITY and attempt > 5
