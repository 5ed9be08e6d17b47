"""Worker crashes on a real dev server: a worker process is killed with SIGKILL at each
dangerous moment of the order desk's conversation, a new worker process takes over, and every
run completes, each model turn paid once (the call in flight at most twice), each refund
and notice written once.

The scripted model runs in the test process, so the test sees every request, and it
places each kill deterministically:
- a model call in flight: the model holds one request open until the kill;
- a tool running: the model locks the ledger (`BEGIN EXCLUSIVE`) just before it
  asks for the refund, so `issue_refund` waits inside its write when the worker dies;
- a side effect committed but its activity not completed: as above, but the worker
  reaches Temporal through a proxy that the test freezes first; then the lock goes, the
  refund commits, and the worker dies before its completion gets through;
- a refund waiting for a person's approval: nothing is in flight, the worker dies, and
  the person approves through `tether approve` once a new worker runs;
- a question the agent asked a person (`ask_person`): nothing is in flight, the worker
  dies, and the person answers through `tether answer` once a new worker runs;
- a refund its approval policy's judge model reviews: the judge holds its first request
  open until the kill;
- right after an interrupt stopped a chat's model call (the model holds it for 10 s): the
  abandoned call is never made again, and the interrupt's message is answered.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState, TimeoutType
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import retried_activities
from tests.support.ledger import CUSTOMER, runs_per_key, seed_orders
from tests.support.model_requests import prompt_and_turn, turns_seen
from tests.support.order_desk import JUDGE, order_desk_script, refund_prompt, start_refund
from tests.support.processes import (
    cli,
    model_env,
    process_env,
    target,
    tether_env,
    tether_worker,
    worker_process,
)
from tests.support.runs import AgentHandle
from tests.support.stuck_runs import results_within
from tests.support.waiting import status_becomes, until
from tether import AgentRun
from tether._wire import JUDGE_ACTIVITY, LLM_ACTIVITY, TOOL_ACTIVITY
from tether.testing import CallTools, ScriptedLLM, Slow, Step, say, wait_for_approvals
from tether.workflow import AgentWorkflow

# The order desk's conversation: lookup, refund, notice, answer; one request each.
EVERY_TURN_ONCE = Counter({1: 1, 2: 1, 3: 1, 4: 1})


class CrashModel:
    """The order desk's script, with two hooks that stop a run at a chosen moment."""

    def __init__(self, ledger: Path) -> None:
        self.hold: tuple[str, int] | None = None  # (prompt, turn): first request held open
        self.release = threading.Event()
        self.lock_before_refund: str | None = None  # the prompt whose refund must wait
        self._held = False
        # Shared with the server's handler threads; only one of them ever locks.
        self._db = sqlite3.connect(ledger, check_same_thread=False, isolation_level=None)

    def __call__(self, messages: list[dict[str, Any]]) -> Step:
        step = order_desk_script(messages)
        where = prompt_and_turn(messages)
        if where == self.hold and not self._held:
            self._held = True
            self.release.wait(timeout=60)
        asks_refund = isinstance(step, CallTools) and step.calls[0][0] == "issue_refund"
        if asks_refund and where[0] == self.lock_before_refund and not self._db.in_transaction:
            self._db.execute("BEGIN EXCLUSIVE")  # readers wait too: no journal-mode WAL
        return step

    def unlock(self) -> None:
        """Let the waiting refund write (the model locks once per test)."""
        self._db.execute("ROLLBACK")
        self._db.close()


class FreezableProxy:
    """A TCP proxy on loopback between a worker and Temporal. `freeze()` stops passing
    bytes on in both directions (they are held, never delivered): a network partition."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._connections: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for connection in self._connections:
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def freeze(self) -> None:
        self._flowing.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            writer.close()
            up_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()
        writer.close()


def worker_env(
    llm: ScriptedLLM, ledger: Path, queue: str, temporal: str, **extra: str
) -> dict[str, str]:
    return process_env(temporal, queue, ledger, **model_env(llm), **extra)


# Each test runs in both modes of calling the model: a regular activity (the default)
# and a local activity (`LlmPolicy(local_activity=True)`), whose input never reaches
# history, so a worker new to the run gets the whole conversation from the workflow.
MODES = ["activity", "local"]


@contextmanager
def desk_worker(mode: str, env: dict[str, str], log: Path) -> Iterator[Popen[bytes]]:
    """The order desk's worker process, calling its model in `mode`."""
    if mode == "local":
        with tether_worker(env, log, "tests.support.order_desk:LOCAL_REGISTRY") as proc:
            yield proc
    else:
        with worker_process(env, log) as proc:
            yield proc


def worker_logs(tmp_path: Path) -> list[Path]:
    """The logs of a test's first worker (killed) and second (taking over)."""
    return [tmp_path / "first.log", tmp_path / "second.log"]


async def moved_model_calls(run: AgentHandle) -> int:
    """Model calls that waited for the worker holding the run's conversation, in vain (it
    was killed), and were then given to any worker."""
    events = (await run.fetch_history()).events
    return sum(
        e.activity_task_timed_out_event_attributes.failure.timeout_failure_info.timeout_type
        == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
        for e in events
        if e.HasField("activity_task_timed_out_event_attributes")
    )


async def tool_running(run: AgentHandle) -> bool:
    """The run's pending tool call runs (or waits inside) in a worker: it has sent its
    first heartbeat. The server marks a call started when it hands the task out, while
    the task may still be on its way, and a proxy frozen then would hold it forever."""
    described = await run.describe()
    return any(
        a.activity_type.name == TOOL_ACTIVITY
        and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        and a.HasField("last_heartbeat_time")
        for a in described.raw_description.pending_activities
    )


def once_per_run(runs: list[AgentHandle]) -> Counter[str]:
    return Counter({run.id: 1 for run in runs})


class HeldJudge:
    """A judge that approves every refund, holding its first request open until
    `release` (the test kills the worker meanwhile)."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()

    def __call__(self, messages: list[dict[str, Any]]) -> Step:
        if not self.asked.is_set():
            self.asked.set()
            self.release.wait(timeout=60)
        return say('{"verdict": "approve", "reasoning": "a widget that broke"}')


async def test_killed_while_a_judge_reviews_a_refund(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    (order,) = seed_orders(ledger, ["K-1001"])
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    judge = HeldJudge()
    agents = "tests.support.order_desk:JUDGED_REGISTRY"
    with ScriptedLLM(scripts={"order-desk": order_desk_script, JUDGE.name: judge}) as llm:
        env = worker_env(llm, ledger, queue, target(dev_env))
        with tether_worker(env, tmp_path / "first.log", agents) as first:
            run = await start_refund(dev_env.client, queue, order, approve=False)
            await asyncio.to_thread(judge.asked.wait, 60)
            first.kill()
            first.wait()
        judge.release.set()
        with tether_worker(env, tmp_path / "second.log", agents):
            # The judge's retry waits out the dead worker's heartbeat timeout (10 s).
            (result,) = await results_within([run], 60, worker_logs(tmp_path))
            state = await run.query(AgentWorkflow.state)

    assert judge.asked.is_set()
    assert result.status == "completed" and "refunded $10.00" in (result.answer or "")
    assert runs_per_key(ledger, "refunds") == once_per_run([run])
    (taken,) = state.decisions
    assert taken.decided_by == "judge (refunds)" and state.pending_approvals == []
    # Only the judge's call ran again, its second attempt on the new worker.
    assert await retried_activities(run) == [(JUDGE_ACTIVITY, 2)]
    requests = [r.agent for r in llm.requests]
    assert requests.count(JUDGE.name) == 2 and requests.count("order-desk") == 4


@pytest.mark.parametrize("mode", MODES)
async def test_killed_while_a_model_call_and_a_tool_are_in_flight(
    dev_env: WorkflowEnvironment, tmp_path: Path, mode: str
) -> None:
    ledger = tmp_path / "ledger.db"
    in_llm, in_tool = seed_orders(ledger, ["K-1001", "K-1002"])
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    model = CrashModel(ledger)
    # Turn 3 asks for the notice after the refund committed: the replay must not refund.
    model.hold = (refund_prompt(in_llm), 3)
    model.lock_before_refund = refund_prompt(in_tool)
    with ScriptedLLM(model) as llm:
        env = worker_env(llm, ledger, queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "first.log") as first:
            runs = [await start_refund(dev_env.client, queue, in_llm)]

            async def held() -> bool:
                return turns_seen(llm).get(refund_prompt(in_llm), Counter())[3] == 1

            await until(held, "the model call of turn 3 was never made")
            # Only now: the lock would also stop the first run's refund.
            runs.append(await start_refund(dev_env.client, queue, in_tool))
            await until(lambda: tool_running(runs[1]), "the refund never ran")
            first.kill()
            first.wait()
        model.release.set()
        model.unlock()
        env = worker_env(llm, ledger, queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "second.log"):
            # The retries wait out the dead worker's heartbeat timeout (10 s).
            results = await results_within(runs, 60, worker_logs(tmp_path))

    assert [r.status for r in results] == ["completed", "completed"]
    assert all("refunded $10.00" in (r.answer or "") for r in results)
    seen = turns_seen(llm)
    assert seen[refund_prompt(in_llm)] == EVERY_TURN_ONCE + Counter({3: 1})
    assert seen[refund_prompt(in_tool)] == EVERY_TURN_ONCE
    assert runs_per_key(ledger, "refunds") == once_per_run(runs)
    assert runs_per_key(ledger, "notices") == once_per_run(runs)
    # The kills hit the calls in flight: exactly those ran again, on the new worker.
    # The interrupted model call: as a local activity, replayed; as an activity (on the
    # shared queue: its worker held the conversation), its second attempt, once the
    # dead worker's heartbeat timeout passed.
    expected = [(LLM_ACTIVITY, 2)] if mode == "activity" else []
    assert await retried_activities(runs[0]) == expected
    assert await moved_model_calls(runs[0]) == 0
    assert await retried_activities(runs[1]) == [(TOOL_ACTIVITY, 2)]


@pytest.mark.parametrize("mode", MODES)
async def test_killed_after_a_refund_committed_before_its_activity_completed(
    dev_env: WorkflowEnvironment, tmp_path: Path, mode: str
) -> None:
    ledger = tmp_path / "ledger.db"
    (order,) = seed_orders(ledger, ["K-2001"])
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    model = CrashModel(ledger)
    model.lock_before_refund = refund_prompt(order)
    with ScriptedLLM(model) as llm:
        async with FreezableProxy(target(dev_env)) as proxy:
            env = worker_env(llm, ledger, queue, proxy.address)
            with desk_worker(mode, env, tmp_path / "first.log") as first:
                run = await start_refund(dev_env.client, queue, order)
                await until(lambda: tool_running(run), "the refund never ran")
                proxy.freeze()
                model.unlock()

                async def committed() -> bool:
                    return runs_per_key(ledger, "refunds")[run.id] == 1

                await until(committed, "the refund never committed")
                first.kill()
                first.wait()
        env = worker_env(llm, ledger, queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "second.log"):
            (result,) = await results_within([run], 60, worker_logs(tmp_path))

    assert result.status == "completed"
    assert "refunded $10.00" in (result.answer or "")
    assert turns_seen(llm)[refund_prompt(order)] == EVERY_TURN_ONCE
    # The retry found the first attempt's refund under its idempotency key.
    assert runs_per_key(ledger, "refunds") == once_per_run([run])
    assert runs_per_key(ledger, "notices") == once_per_run([run])
    assert await retried_activities(run) == [(TOOL_ACTIVITY, 2)]


@pytest.mark.parametrize("mode", MODES)
async def test_killed_while_a_refund_waits_for_approval(
    dev_env: WorkflowEnvironment, tmp_path: Path, mode: str
) -> None:
    ledger = tmp_path / "ledger.db"
    (order,) = seed_orders(ledger, ["K-3001"])
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(order_desk_script) as llm:
        env = worker_env(llm, ledger, queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "first.log") as first:
            run = await start_refund(dev_env.client, queue, order, approve=False)
            (waiting,) = await wait_for_approvals(run)
            first.kill()
            first.wait()
        env = worker_env(llm, ledger, queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "second.log"):
            # The new worker rebuilds the pending call from history, or the workflow's
            # validator would refuse a decision for this call id.
            approved = cli(env, "approve", run.id, "--call", waiting.call_id)
            (result,) = await results_within([run], 60, worker_logs(tmp_path))

    assert waiting.tool == "issue_refund"
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"approved issue_refund({waiting.arguments})")
    assert result.status == "completed"
    assert "refunded $10.00" in (result.answer or "")
    assert turns_seen(llm)[refund_prompt(order)] == EVERY_TURN_ONCE
    assert runs_per_key(ledger, "refunds") == once_per_run([run])
    assert runs_per_key(ledger, "notices") == once_per_run([run])
    # Nothing was in flight at the kill, so nothing ran twice.
    assert await retried_activities(run) == []


async def test_killed_while_a_question_waits_for_an_answer(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    env = tether_env(target(dev_env), queue)
    agents = "tests.support.question_agents"
    offline = (f"{agents}:REGISTRY", "--offline", f"{agents}:SCRIPTS")
    with tether_worker(env, tmp_path / "first.log", *offline) as first:
        run = await AgentRun.start(
            dev_env.client, "order-picker", "My order is broken.", task_queue=queue
        )
        (asked,) = await run.wait_for_question()
        first.kill()
        first.wait()
    with tether_worker(env, tmp_path / "second.log", *offline):
        # The new worker rebuilds the waiting question from history, or the workflow's
        # validator would refuse an answer for this call id.
        answered = cli(env, "answer", run.id, "--call", asked.call_id, "A-1001")
        (result,) = await results_within([run.handle], 60, worker_logs(tmp_path))

    assert answered.returncode == 0, answered.stderr
    assert result.status == "completed" and result.answer == "You mean order A-1001."
    assert await retried_activities(run.handle) == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_chat_goes_on_across_a_graceful_worker_restart(
    dev_env: WorkflowEnvironment, tmp_path: Path, mode: str
) -> None:
    """A deploy: the only worker stops (SIGTERM) between two messages of a chat, a new
    one starts, and the next message is answered in the same conversation."""
    ledger = tmp_path / "ledger.db"
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(order_desk_script) as llm:
        env = worker_env(llm, ledger, queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "first.log"):
            run = await AgentRun.start(
                dev_env.client, "order-desk", "Where is order A-1003?", chat=True,
                task_queue=queue, acting_for=CUSTOMER,
            )  # fmt: skip

            await status_becomes(run.handle, "awaiting_user")  # the first message answered
        with desk_worker(mode, env, tmp_path / "second.log"):
            reply = await asyncio.wait_for(run.send("And order A-1002?"), 60)
            await run.end()
            result = await asyncio.wait_for(run.result(), 60)
    assert reply.startswith("Order A-1002 (Keyboard) is delivered.")
    assert result.status == "completed"
    # The model saw the whole conversation after the restart, and each turn once.
    last = llm.requests[-1].messages
    assert [m["content"] for m in last if m["role"] == "user"] == [
        "Where is order A-1003?",
        "And order A-1002?",
    ]
    assert llm.request_count == 4  # lookup + answer, twice


STEER = "Forget that: answer in one word."


def slow_then_steered(messages: list[dict[str, Any]]) -> Step:
    """A 10 s reply to "slow", which an interrupt abandons; one word after the steer."""
    text = messages[-1].get("content")
    if text == "slow":
        return Slow(10.0, say("the abandoned answer"))
    return say("Done." if text == STEER else "Hello.")


@pytest.mark.parametrize("mode", MODES)
async def test_killed_right_after_an_interrupt_the_abandoned_model_call_is_not_made_again(
    dev_env: WorkflowEnvironment, tmp_path: Path, mode: str
) -> None:
    queue = f"interrupt-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(slow_then_steered) as llm:

        def slow_calls() -> int:
            return sum(r.messages[-1].get("content") == "slow" for r in llm.requests)

        async def asked() -> bool:
            return slow_calls() == 1

        env = worker_env(llm, tmp_path / "ledger.db", queue, target(dev_env))
        with desk_worker(mode, env, tmp_path / "first.log") as first:
            run = await AgentRun.start(
                dev_env.client, "order-desk", "hello", chat=True, task_queue=queue,
                acting_for=CUSTOMER,
            )  # fmt: skip
            await status_becomes(run.handle, "awaiting_user")
            sending = asyncio.create_task(run.send("slow"))
            await until(asked, "the model never got the slow call")
            taken = await run.interrupt(STEER)
            first.kill()
            first.wait()
        with desk_worker(mode, env, tmp_path / "second.log"):
            reply = await asyncio.wait_for(sending, 60)
            await run.end()
            result = await asyncio.wait_for(run.result(), 60)
            transcript = await run.transcript()

    assert taken.abandoned == ["the model call of turn 2"]
    assert reply == result.answer == "Done." and result.status == "completed"
    # The run has closed, so no attempt of the abandoned call is left: it was made once.
    assert slow_calls() == 1
    assert all("abandoned answer" not in (m.content or "") for m in transcript)
