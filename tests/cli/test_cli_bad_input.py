"""Bad input to every `tether` command: one clear line on stderr, exit status 2, no
traceback, and nothing started or decided by it.

Every case is a real `tether` subprocess. They run a few at a time, against the
session's dev server (with a run of this module's own waiting for approval, served by
an in-process worker) or against a port where nothing listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.order_desk import REGISTRY, SCRIPTS
from tests.support.processes import (
    cli_command,
    cli_in_background,
    free_port,
    process_env,
    target,
)
from tests.support.waiting import first
from tether import AgentRun, PendingApproval
from tether._cli.common import MAX_ID_CHARS
from tether._limits import MAX_NAME_CHARS, MAX_PROMPT_CHARS
from tether.testing import ScriptedLLM, call_tools, wait_for_approvals, worker

SUFFIX = uuid.uuid4().hex[:8]
QUEUE = f"bad-input-{SUFFIX}"  # where the CLI starts runs
WAITING = f"bad-input-waiting-{SUFFIX}"  # a run waiting for approval (not a chat)
HUGE = "x" * (MAX_PROMPT_CHARS + 1)
LONG_ID = "i" * (MAX_ID_CHARS + 1)
FILES = "FILES/"  # stands for the module's directory of bad history files
NOBODY = f"127.0.0.1:{free_port()}"  # nothing listens here
UNREACHABLE = (
    f"cannot reach Temporal at {NOBODY} (namespace default): "
    "start the dev server with `python3 dev.py server`, or set TEMPORAL_ADDRESS"
)
NO_RUN = "no run with id 'no-such-run'"
EMPTY_ID = "the run id is empty"
ID_TOO_LONG = f"the run id is longer than {MAX_ID_CHARS} characters"
EMPTY_PROMPT = "invalid prompt: String should have at least 1 character"
HUGE_PROMPT = f"invalid prompt: String should have at most {MAX_PROMPT_CHARS} characters"
UNKNOWN_AGENT = "no agent 'nope' here (this worker serves: order-desk, order-triage)"
NO_CALL = "no tool call 'nope' waits for approval"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    says: str  # part of the one line on stderr
    stdin: str = ""
    server: bool = True  # False: TEMPORAL_ADDRESS is a port where nothing listens


def case(
    id: str, args: list[str], says: str, *, stdin: str = "", server: bool = True
) -> tuple[str, Case]:
    return id, Case(tuple(args), says, stdin, server)


# Rows for each command and kind of mistake. Where commands share one code path, one
# stands for the others: every run id goes through tether._cli.common.open_run and its connect;
# approve, reject and send send an update (unknown ids), status, transcript and chat
# --id query, watch and cancel describe the run; run and chat validate the same input.
# Each row is a process, about 1.5 s of CPU.
CASES = dict(
    [
        # Nothing listens: each command that needs Temporal says so, once its input is read.
        *[
            case(f"unreachable-{args[0]}", args, UNREACHABLE, stdin="hi\n", server=False)
            for args in (
                ["run", "hi"],
                ["pipeline", "hi"],
                ["chat"],
                ["status", "x"],
            )
        ],
        # Empty input.
        case("empty-run", ["run", "  ", "--id", f"half-empty-{SUFFIX}"], EMPTY_PROMPT),
        case("empty-chat", ["chat"], EMPTY_PROMPT, stdin=" \n"),
        case(
            "empty-pipeline",
            ["pipeline", " ", "--id", f"half-pipeline-{SUFFIX}"],
            "invalid text: String should have at least 1 character",
        ),
        case("empty-send", ["send", "x", " "], "the message is empty"),
        case("empty-chat-id", ["chat", "--id", ""], EMPTY_ID),
        case("empty-approve-id", ["approve", ""], EMPTY_ID),
        case("empty-replay-id", ["replay", ""], EMPTY_ID),
        # Oversized input.
        case("huge-run", ["run", HUGE, "--id", f"half-huge-{SUFFIX}"], HUGE_PROMPT),
        case("huge-send", ["send", "x", HUGE], "the message is longer than 100,000 characters"),
        case("huge-run-id", ["run", "hi", "--id", LONG_ID], ID_TOO_LONG),
        case("huge-status-id", ["status", LONG_ID], ID_TOO_LONG),
        # Its default run id (`NAME-<random>`) would be over Temporal's 255 characters.
        case(
            "huge-agent-name",
            ["run", "hi", "--agent", "a" * 1000],
            f"the agent name is longer than {MAX_NAME_CHARS} characters",
        ),
        # Bytes that are not UTF-8 reach Python as surrogates (os.fsdecode); gRPC refused them.
        case("non-utf8-status-id", ["status", "run-\udcff"], "the run id is not valid UTF-8"),
        case("huge-pipeline-id", ["pipeline", "hi", "--id", LONG_ID], ID_TOO_LONG),
        case(
            "negative-pipeline-timeout",
            ["pipeline", "hi", "--approval-timeout", "-1"],
            "invalid approval_timeout_seconds: Input should be greater than 0",
        ),
        case("huge-list-limit", ["list", "--limit", "1001"], "--limit must be between 1 and 1,000"),
        case(
            "huge-reject-reason",
            ["reject", WAITING, "--reason", "r" * 2001],
            "invalid decision: reason: String should have at most 2000 characters",
        ),
        case(
            "huge-approve-arguments",
            ["approve", WAITING, "--arguments", json.dumps({"reason": HUGE})],
            f"invalid decision: arguments: String should have at most {MAX_PROMPT_CHARS}",
        ),
        # Unknown agent, runs and calls; each command asks the server in its own way.
        case(
            "unknown-agent-run",
            ["run", "hi", "--agent", "nope", "--id", f"half-agent-{SUFFIX}"],
            UNKNOWN_AGENT,
        ),
        case("unknown-agent-chat", ["chat", "--agent", "nope"], UNKNOWN_AGENT, stdin="hi\n"),
        *[
            case(f"unknown-id-{c}", [c, "no-such-run"], NO_RUN)
            for c in ("approve", "status", "watch", "replay")
        ],
        case(
            "unknown-run-id",
            ["replay", WAITING, "--run-id", str(uuid.uuid4())],
            f"no run with id {WAITING!r}",
        ),
        case("unknown-call-approve", ["approve", WAITING, "--call", "nope"], NO_CALL),
        case("not-a-chat-send", ["send", WAITING, "hi"], "this run is not a chat"),
        case("not-a-chat-chat", ["chat", "--id", WAITING], f"run {WAITING!r} is not a chat"),
        # Malformed JSON, and histories that are not.
        case(
            "malformed-arguments",
            ["approve", WAITING, "--arguments", "{not json"],
            "edited arguments are not valid JSON: Expecting property name",
        ),
        case(
            "missing-history",
            ["replay", "--file", f"{FILES}missing.json"],
            "cannot read FILES/missing.json: No such file or directory",
        ),
        case(
            "malformed-history",
            ["replay", "--file", f"{FILES}garbage.json"],
            "FILES/garbage.json is not a workflow history in JSON",
        ),
        case(
            "empty-history",
            ["replay", "--file", f"{FILES}empty.json"],
            "FILES/empty.json is not a workflow history: it does not start with a run",
        ),
        case(
            "replay-id-and-file",
            ["replay", "x", "--file", f"{FILES}empty.json"],
            "give a workflow id or --file, not both",
        ),
        case("replay-nothing", ["replay"], "give a workflow id, or --file PATH"),
        # What argparse refuses, in one line too.
        case("not-a-number", ["list", "--limit", "abc"], "argument --limit: invalid int value"),
    ]
)
HALF_STARTED = [f"half-{kind}-{SUFFIX}" for kind in ("empty", "huge", "pipeline")]

CONTROL = f"bad-input-control-{SUFFIX}"  # one good run, so the queue's count means something


@dataclass
class Outcomes:
    done: dict[Case, subprocess.CompletedProcess[str]]
    files: Path
    pending_before: list[PendingApproval]
    pending_after: list[PendingApproval]
    started_on_queue: dict[str, WorkflowExecutionStatus | None]


@pytest.fixture(scope="module")
async def outcomes(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Outcomes:
    files = tmp_path_factory.mktemp("histories")
    (files / "garbage.json").write_text("not json")
    (files / "empty.json").write_text('{"events": []}')
    live = process_env(target(dev_env), QUEUE, files / "ledger.db")
    dead = process_env(NOBODY, QUEUE, files / "ledger.db")
    cases = list(CASES.values())
    slots = asyncio.Semaphore(3)  # two cores; each process mostly imports

    async def run(case: Case) -> subprocess.CompletedProcess[str]:
        args = [a.replace(FILES, f"{files}/") for a in case.args]
        async with slots:
            return await cli_in_background(live if case.server else dead, *args, stdin=case.stdin)

    with ScriptedLLM(scripts=SCRIPTS) as llm:
        llm.enqueue(call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"})))
        # The worker of the queue the CLI starts runs on, as a user's would be.
        async with worker(dev_env.client, REGISTRY, llm, queue=QUEUE) as w:
            waiting_run = await AgentRun.start(
                dev_env.client, "order-desk", "Refund A-1001", id=WAITING,
                task_queue=w.task_queue, acting_for=CUSTOMER,
            )  # fmt: skip
            waiting = waiting_run.handle
            before = await wait_for_approvals(waiting)
            control = cli_in_background(live, "run", "hi", "--id", CONTROL, "--detach")
            *done, controlled = await asyncio.gather(*(run(c) for c in cases), control)
            after = await wait_for_approvals(waiting)
            await waiting.cancel()  # it ends cleanly, its worker still running
            with pytest.raises(WorkflowFailureError):
                await waiting.result()
            started = await runs_on(dev_env, QUEUE)
    assert controlled.returncode == 0, controlled.stderr
    return Outcomes(dict(zip(cases, done, strict=True)), files, before, after, started)


async def runs_on(
    env: WorkflowEnvironment, queue: str
) -> dict[str, WorkflowExecutionStatus | None]:
    """Workflow ids started on `queue` and how they stand, once visibility shows the
    control run and the waiting one as closed."""

    async def listed() -> dict[str, WorkflowExecutionStatus | None]:
        return {r.id: r.status async for r in env.client.list_workflows(f"TaskQueue = '{queue}'")}

    return await first(
        listed,
        lambda found: (
            bool(found.get(CONTROL)) and found.get(WAITING) == WorkflowExecutionStatus.CANCELED
        ),
        "the control run never became visible",
        every=0.1,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_input_gets_one_line_and_exit_status_2(outcomes: Outcomes, case: Case) -> None:
    done = outcomes.done[case]
    line = done.stderr.strip().replace(f"{outcomes.files}/", FILES)
    assert "Traceback" not in done.stderr
    assert len(line.splitlines()) == 1, done.stderr
    assert line.startswith("tether") and case.says in line, line
    assert done.returncode == 2


async def test_bad_input_starts_and_decides_nothing(
    outcomes: Outcomes, dev_env: WorkflowEnvironment
) -> None:
    # Neither `run` nor `chat` started anything but the control run and the runs of an
    # agent nobody serves, which failed at once: nothing bad is left running.
    started = dict(outcomes.started_on_queue)
    assert started.pop(CONTROL) is not None
    assert started.pop(WAITING) == WorkflowExecutionStatus.CANCELED
    assert set(started.values()) == {WorkflowExecutionStatus.FAILED}, started
    assert len(started) == 2 and f"half-agent-{SUFFIX}" in started, started
    for workflow_id in HALF_STARTED:
        with pytest.raises(RPCError) as missing:
            await dev_env.client.get_workflow_handle(workflow_id).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND
    # The waiting run still waits for the same call: no refused decision reached it.
    assert outcomes.pending_after == outcomes.pending_before


async def test_output_closed_early_ends_quietly(
    outcomes: Outcomes, dev_env: WorkflowEnvironment
) -> None:
    """`tether status ID | head -0`: the reader is gone before the first line. The
    command exits with the shell's status for it (141), no traceback."""
    env = process_env(target(dev_env), QUEUE, outcomes.files / "ledger.db")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = await asyncio.create_subprocess_exec(
            *cli_command("status", WAITING, "--json"),
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    assert "Traceback" not in err.decode() and "BrokenPipe" not in err.decode(), err.decode()
    assert proc.returncode == 141
