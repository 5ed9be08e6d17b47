"""Shared fixtures: Temporal environments from installed binaries, the scripted LLM,
a fresh shop database, and an in-process worker bound to them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.shop_db import connect
from support_desk import REGISTRY
from support_desk.agents import SUPPORT_DESK
from tether import AgentRegistry, AgentResult, ApprovalDecision, LlmSettings, PendingApproval, tool
from tether._cli.follow import Waiting
from tether._pricing import PriceTable
from tether._run_io import AgentInput
from tether._settings import SDK_DEFAULTS
from tether.testing import SIGNER, ScriptedLLM, dev_server, time_skipping, worker
from tether.worker import WorkerTuning
from tether.workflow import AgentWorkflow

AgentHandle = WorkflowHandle[AgentWorkflow, AgentResult]
# Who the support desk's runs act for: Ada Lovelace owns every order of the seeded
# shop; `seed_orders` gives its orders to SEEDED_CUSTOMER, Grace Hopper.
CUSTOMER = "C-1"
SEEDED_CUSTOMER = "C-2"
APPROVER = "approver@tests"


# The support desk with refunds that need no person: for tests about something else
# (secrets, logs, the web UI) that must run to the end unattended.
UNATTENDED = AgentRegistry(
    [
        dataclasses.replace(
            SUPPORT_DESK,
            tools=[
                tool(side_effects=True)(t.fn) if t.name == "issue_refund" else t
                for t in SUPPORT_DESK.tools
            ],
        )
    ]
)


def free_port() -> int:
    """A loopback port free right now, for servers that must be told their port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Modules whose tests kill, stop or flood worker and server processes against deadlines:
# under pytest-xdist they run one after another in one process, never beside each other.
PROCESS_HEAVY = {
    "demo/test_bench.py",
    "demo/test_chaos_bench.py",
    "durability/test_crashes.py",
    "durability/test_fleet_reads.py",
    "durability/test_liveness.py",
    "durability/test_scale_out.py",
    "durability/test_server_restart.py",
    "durability/test_versioning.py",
    "engine/test_mcp.py",
    "engine/test_stress.py",
}
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for `--dist loadgroup`: a module's tests stay in one process (its
    module fixtures run once), and the process-heavy modules share one."""
    for item in items:
        module = item.path.relative_to(TESTS).as_posix()
        item.add_marker(pytest.mark.xdist_group("processes" if module in PROCESS_HEAVY else module))


@pytest.fixture(scope="module")
async def shared_ts_server() -> AsyncIterator[WorkflowEnvironment]:
    # One per test module: what a module's runs leave on the server (time-skipping is
    # server-wide) cannot stall another module's timers, in whatever order and process
    # pytest-xdist runs the modules. A start costs about a second.
    async with time_skipping() as env:
        yield env


@pytest.fixture
async def ts_env(shared_ts_server: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    """The module's time-skipping server, for one test, which must close every run it
    starts: a run left open (its worker gone) can stop the server from skipping time for
    the tests after it, which then hang. Such a test fails here, its runs terminated."""
    yield shared_ts_server
    left = await terminate_open_runs(shared_ts_server.client)
    assert not left, f"the test left runs open on the shared time-skipping server: {left}"


async def terminate_open_runs(client: Client) -> list[str]:
    """Terminate every open run on the server; the ids of those that were open."""
    left: list[str] = []
    page = b""
    while True:
        listed = await client.workflow_service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(
                namespace=client.namespace, maximum_page_size=100, next_page_token=page
            )
        )
        for run in listed.executions:
            left.append(run.execution.workflow_id)
            handle = client.get_workflow_handle(
                run.execution.workflow_id, run_id=run.execution.run_id
            )
            with suppress(RPCError):  # a child, ended with its parent
                await handle.terminate(reason="left open by a test")
        page = listed.next_page_token
        if not page:
            return left


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server on free ports, with Tether's search attributes."""
    async with dev_server() as env:
        yield env


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def shop_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "shop.db"
    monkeypatch.setenv("TETHER_SHOP_DB", str(path))
    return path


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def seed_orders(shop: Path, orders: list[str]) -> list[str]:
    """Orders of the test's own, delivered yesterday, so every run's refund is allowed
    (the shop refuses a second refund of an order)."""
    delivered = (date.today() - timedelta(days=1)).isoformat()
    with connect(shop) as db:
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, 'Widget', 1000, 'delivered', ?, ?)",
            [(order, SEEDED_CUSTOMER, delivered, delivered) for order in orders],
        )
    return orders


def turns_seen(llm: ScriptedLLM) -> dict[str, Counter[int]]:
    """Requests the scripted model received, by prompt (one run each) and turn."""
    seen: dict[str, Counter[int]] = defaultdict(Counter)
    for request in llm.requests:
        prompt, turn = prompt_and_turn(request.messages)
        seen[prompt][turn] += 1
    return dict(seen)


def prompt_and_turn(messages: list[dict[str, Any]]) -> tuple[str, int]:
    """A model request's user prompt and turn (1 + the assistant messages it carries)."""
    prompt = next(str(m.get("content")) for m in messages if m.get("role") == "user")
    return prompt, 1 + sum(m.get("role") == "assistant" for m in messages)


def refund_prompt(order: str) -> str:
    return f"Order {order} arrived broken, I want my money back."


# Approvers run beside the test; kept here so they are not garbage-collected, and
# cancelled when it ends (a run that never asks would keep its approver polling).
_approvers: set[asyncio.Task[None]] = set()
# One RPC of an approver: a query or an update sent to a worker that was just killed
# waits for this, then is asked again (a lost answer must not stall the approval).
APPROVER_RPC_TIMEOUT = timedelta(seconds=15)


@pytest.fixture(autouse=True)
async def _cancel_approvers() -> AsyncIterator[None]:
    yield
    for approver in list(_approvers):
        approver.cancel()
    await asyncio.gather(*_approvers, return_exceptions=True)


async def start_refund(
    client: Client, queue: str, order: str, *, approve: bool = True
) -> AgentHandle:
    """A support-desk run asking to refund `order`, with the order in its id, and (unless
    `approve` is False) a person who approves that refund when the run asks, whatever
    dies meanwhile."""
    run = await client.start_workflow(
        AgentWorkflow.run,
        AgentInput(agent="support-desk", acting_for=SEEDED_CUSTOMER, prompt=refund_prompt(order)),
        id=f"{queue}-{order}",
        task_queue=queue,
    )
    if not approve:
        return run
    approver = asyncio.create_task(_approve_when_asked(run))
    _approvers.add(approver)
    approver.add_done_callback(_approvers.discard)
    approver.add_done_callback(_report_failure)
    return run


def _report_failure(approver: asyncio.Task[None]) -> None:
    # An approver that gave up leaves its run waiting: say why in the test's log.
    if not approver.cancelled() and (error := approver.exception()) is not None:
        logging.getLogger("tests.approver").error("approver gave up: %r", error)


async def _approve_when_asked(run: AgentHandle, within: float = 180) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            remaining = deadline - asyncio.get_running_loop().time()
            # Polling as a person would, not five times a second: fifty runs' approvers
            # are load enough on a two-core machine.
            await approve_all(run, within=remaining, interval=1.0, rpc_timeout=APPROVER_RPC_TIMEOUT)
            return
        except (RPCError, WorkflowQueryFailedError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # The worker was killed mid-query or mid-update: ask again.
            await asyncio.sleep(0.5)
        except WorkflowUpdateFailedError as e:
            if "already decided" in str(e.cause):
                return  # the update landed before its answer was lost
            raise


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def key_of(handle: WorkflowHandle[Any, Any], turn: int, call_id: str) -> str:
    """The idempotency key of a call of the run `handle` started (default namespace)."""
    return f"default:{handle.id}:{handle.first_execution_run_id}:{turn}:{call_id}"


def runs_per_key(shop: Path, table: str) -> Counter[str]:
    """Rows per run: idempotency keys are `namespace:workflow id:first run id:turn:call id`."""
    with sqlite3.connect(shop) as db:
        keys = [row[0] for row in db.execute(f"SELECT idempotency_key FROM {table}")]
    return Counter(key.split(":")[1] for key in keys)


@asynccontextmanager
async def running_worker(
    client: Client,
    llm: ScriptedLLM | LlmSettings,
    *,
    agents: AgentRegistry = REGISTRY,
    prices: PriceTable | None = None,
    tuning: WorkerTuning = SDK_DEFAULTS,
    queue: str | None = None,
) -> AsyncIterator[Worker]:
    """The support desk's worker (Tether's, for `agents`), in-process, on `queue`
    (default: a fresh one), talking to `llm` (the scripted model, or any server the
    settings point at)."""
    async with worker(client, agents, llm, queue=queue, prices=prices, tuning=tuning) as w:
        yield w


async def pending_approvals(
    handle: WorkflowHandle[Any, Any],
    count: int = 1,
    *,
    within: float = 30,
    interval: float = 0.2,
    rpc_timeout: timedelta | None = None,
) -> list[PendingApproval]:
    """Poll the run's state until `count` tool calls wait for a person (an agent run or a
    pipeline run: both answer the `state` query with their pending approvals).

    Queries do not unlock the time-skipping server's clock, so an approval timeout
    cannot fire while a test waits here (it would while awaiting the result).
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            state: Waiting = await handle.query(
                "state", result_type=Waiting, rpc_timeout=rpc_timeout
            )
            pending = state.pending_approvals
        except RPCError:
            pending = []  # not started yet, or its worker is being replaced
        if len(pending) >= count:
            return pending
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} approvals never became pending (saw {pending})")
        await asyncio.sleep(interval)


async def approve_all(
    handle: WorkflowHandle[AgentWorkflow, AgentResult],
    count: int = 1,
    *,
    within: float = 30,
    interval: float = 0.2,
    rpc_timeout: timedelta | None = None,
) -> list[PendingApproval]:
    """Approve the run's next `count` calls that wait for a person, as a person would
    (`interval` and `rpc_timeout` as in `pending_approvals`, the latter for each update too)."""
    pending = await pending_approvals(
        handle, count, within=within, interval=interval, rpc_timeout=rpc_timeout
    )
    for call in pending:
        await handle.execute_update(
            AgentWorkflow.decide, approval(handle, call), rpc_timeout=rpc_timeout
        )
    return pending


def approval(
    handle: WorkflowHandle[Any, Any], call: PendingApproval, **fields: object
) -> ApprovalDecision:
    """A person's approval of exactly `call` (its digest) of the run `handle` started, by
    APPROVER, signed with the key the tests' workers trust; a `call_id` or `digest`
    among `fields` replaces the call's after signing (a decision for another call)."""
    after: dict[str, object] = {n: fields.pop(n) for n in ("call_id", "digest") if n in fields}
    decision = ApprovalDecision.model_validate(
        {"call_id": call.call_id, "approve": True, "approver": APPROVER, **fields}
    )
    assert handle.first_execution_run_id, "sign for a run this test started"
    signed = SIGNER.sign(
        decision,
        call=call,
        namespace="default",
        workflow_id=handle.id,
        first_run_id=handle.first_execution_run_id,
    )
    return signed.model_copy(update=after)


async def retried_activities(run: AgentHandle) -> list[tuple[str, int]]:
    """(activity type, attempt) of every activity that completed on a retry."""
    events = (await run.fetch_history()).events
    kinds = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    started = [
        e.activity_task_started_event_attributes
        for e in events
        if e.HasField("activity_task_started_event_attributes")
    ]
    return [(kinds[s.scheduled_event_id], s.attempt) for s in started if s.attempt > 1]
