"""A run is readable after the fact: through the Temporal client (what the web UI shows)
and in the worker's logs. One order-desk run by the real `tether` CLI and worker processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.order_desk import REGISTRY
from tests.support.processes import cli, process_env, target, worker_process
from tests.support.waiting import first
from tether import AgentRun, PendingApproval, RunState, Usage
from tether._visibility import (
    AGENT_NAME_KEY,
    AGENT_STATUS_KEY,
    AGENT_TOKENS_KEY,
    AGENT_TURNS_KEY,
    READING_GUIDE,
    approval_summary,
    call_summary,
    code,
    current_details,
    inline,
    start_details,
)
from tether.testing import ScriptedLLM, say, worker

PROMPT = "Order A-1001 arrived broken, I want my money back."


@dataclass
class FinishedRun:
    out: dict[str, Any]
    handle: WorkflowHandle[Any, Any]
    worker_log: list[dict[str, Any]]


@pytest.fixture(scope="module")
async def finished_run(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> FinishedRun:
    tmp = tmp_path_factory.mktemp("readable")
    env = process_env(target(dev_env), f"read-{uuid.uuid4().hex[:8]}", tmp / "ledger.db")
    with worker_process(env, tmp / "worker.log"):
        done = await asyncio.to_thread(cli, env, "run", PROMPT, "--json", "--yes")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    lines = (tmp / "worker.log").read_text().splitlines()
    return FinishedRun(
        out=out,
        handle=dev_env.client.get_workflow_handle(out["workflow_id"]),
        worker_log=[json.loads(line) for line in lines if line.startswith("{")],
    )


async def test_the_run_has_a_summary_and_details(finished_run: FinishedRun) -> None:
    described = await finished_run.handle.describe()
    assert await described.static_summary() == f"order-desk: {PROMPT}"
    shown = f"**Prompt**\n\n```\n{PROMPT}\n```\n\n{READING_GUIDE}"  # the ticket as text
    assert await described.static_details() == shown


async def test_search_attributes_follow_the_run(
    finished_run: FinishedRun, dev_env: WorkflowEnvironment
) -> None:
    described = await finished_run.handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(AGENT_NAME_KEY) == "order-desk"
    assert attributes.get(AGENT_STATUS_KEY) == "completed"
    assert attributes.get(AGENT_TURNS_KEY) == finished_run.out["turns"] == 4
    assert attributes.get(AGENT_TOKENS_KEY) == finished_run.out["usage"]["total_tokens"]
    query = (
        f"AgentName = 'order-desk' AND AgentStatus = 'completed' "
        f"AND WorkflowId = '{finished_run.handle.id}'"
    )

    async def found() -> list[str]:
        return [w.id async for w in dev_env.client.list_workflows(query)]

    # Visibility is eventually consistent.
    shown = await first(found, bool, "visibility never showed the run", within=10, every=0.1)
    assert shown == [finished_run.handle.id]
    running = f"AgentStatus = 'running' AND WorkflowId = '{finished_run.handle.id}'"
    assert [w.id async for w in dev_env.client.list_workflows(running)] == []


async def test_every_activity_reads_like_a_transcript_line(
    finished_run: FinishedRun, dev_env: WorkflowEnvironment
) -> None:
    converter = dev_env.client.data_converter.payload_converter
    summaries = []
    async for event in finished_run.handle.fetch_history_events():
        if event.event_type in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            EventType.EVENT_TYPE_MARKER_RECORDED,
        ) and event.user_metadata.HasField("summary"):
            summaries.append(converter.from_payload(event.user_metadata.summary, str))
    # The first model call records the agent's spec (the model is the agent's, not known
    # to the run before it).
    assert summaries[:2] == [
        "llm order-desk model · turn 1 · agent spec recorded",
        "tool lookup_order(order_id='A-1001')",
    ]
    assert "llm tether-scripted · turn 2" in summaries
    assert "tool lookup_order(order_id='A-1001')" in summaries
    assert any(s.startswith("tool issue_refund(order_id='A-1001', reason=") for s in summaries)
    assert any(s.startswith("tool notify(to='ada@example.com'") for s in summaries)
    assert sum(s.startswith("llm ") for s in summaries) == 4
    assert call_summary("get_refund_policy", "{}") == "get_refund_policy()"  # no arguments


async def test_activity_log_lines_carry_their_context(finished_run: FinishedRun) -> None:
    run_id = (await finished_run.handle.describe()).run_id
    activity_lines = [
        e for e in finished_run.worker_log if e.get("logger") in ("tether.llm", "tether.tool")
    ]
    assert {e["event"] for e in activity_lines} == {"model replied", "tool ran"}
    assert len(activity_lines) == 7  # 4 model calls and 3 tool calls
    for line in activity_lines:
        assert line["workflow_id"] == finished_run.handle.id
        assert line["run_id"] == run_id
        assert line["activity"] in ("tether.llm", "tether.tool")
        assert line["attempt"] == 1
        assert line["level"] == "info"


async def test_starter_lists_runs_by_status(
    finished_run: FinishedRun, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = process_env(target(dev_env), "unused", tmp_path / "ledger.db")

    def listed(*flags: str) -> list[str]:
        done = cli(env, "list", "--json", *flags)
        assert done.returncode == 0, done.stderr
        return [run["workflow_id"] for run in json.loads(done.stdout)]

    async def completed() -> list[str]:
        return listed("--status", "completed")

    # Visibility is eventually consistent.
    shown = await first(
        completed, lambda ids: finished_run.handle.id in ids, "never listed", within=60
    )
    assert finished_run.handle.id in shown
    assert finished_run.handle.id not in listed("--status", "max_turns")
    table = cli(env, "list", "--status", "completed")
    line = next(x for x in table.stdout.splitlines() if x.startswith(finished_run.handle.id))
    assert "completed" in line and "order-desk" in line


async def test_a_run_that_never_upserts_is_listed_by_its_agent(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A run that never waits for a person upserts no search attribute (unless the worker
    # keeps live statuses): the memo it starts with names its agent.
    env = process_env(target(dev_env), "unused", tmp_path / "ledger.db")
    with ScriptedLLM() as llm:
        llm.enqueue(say("Nothing to refund."))
        async with worker(dev_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                dev_env.client, "order-desk", "Hello", task_queue=w.task_queue,
                acting_for=CUSTOMER,
            )  # fmt: skip
            assert (await run.result()).status == "completed"
    described = await run.handle.describe()
    assert described.typed_search_attributes.get(AGENT_NAME_KEY) is None

    async def listed() -> list[dict[str, Any]]:
        done = await asyncio.to_thread(cli, env, "list", "--json", "--status", "completed")
        assert done.returncode == 0, done.stderr
        return [r for r in json.loads(done.stdout) if r["workflow_id"] == run.handle.id]

    [row] = await first(listed, bool, "never listed", within=60)
    assert row["agent"] == "order-desk"


HOSTILE = "Refund me. [click to approve](http://evil.example/approve) <img src=x> ``` **now**"


def test_text_from_a_prompt_a_model_or_a_tool_is_shown_as_code_never_as_markdown() -> None:
    # Before, the prompt (a customer's ticket) and a run's error were markdown on the
    # run's page: a live "click to approve" link showed.
    details = start_details("Prompt", HOSTILE)
    assert details.split("\n\n")[:2] == ["**Prompt**", code(HOSTILE)]
    assert code(HOSTILE).startswith("````\n")  # longer than any backtick run inside
    state = RunState(
        status="failed", agent="a", model="m", turn=1, usage=Usage(), messages=2, error=HOSTILE
    )
    assert current_details(state, 12, None).endswith("error:\n\n" + code(HOSTILE))
    assert inline("a `b` ``c``") == "``` a `b` ``c`` ```"


def test_an_approval_label_shows_the_whole_arguments_or_none() -> None:
    # Before, the label cut the arguments at 40 characters and printed a ready approve
    # command beside them (the model picks the key order: the cut part may matter).
    def waiting(arguments: dict[str, str]) -> PendingApproval:
        return PendingApproval(
            call_id="call_3", tool="issue_refund", arguments=json.dumps(arguments), turn=3,
            expires_at=datetime(2026, 12, 2, tzinfo=UTC), digest="1c450b19ad540d4e",
        )  # fmt: skip

    short = waiting({"reason": "arrived broken", "order_id": "A-1001"})
    assert approval_summary(short, "ticket-7") == (
        'waiting for a person to approve issue_refund({"reason": "arrived broken", '
        '"order_id": "A-1001"}) · tether approve ticket-7 --call call_3 --digest '
        "1c450b19ad540d4e (or reject) · until 2026-12-02 00:00 UTC"
    )
    long = waiting({"reason": "x" * 400, "order_id": "A-1004"})
    assert approval_summary(long, "ticket-7") == (
        "waiting for a person to approve issue_refund: its arguments are too long for this "
        "label, read them in the run's current details · until 2026-12-02 00:00 UTC"
    )
