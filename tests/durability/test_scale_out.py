"""Scale-out on a real dev server: three worker processes share fifty concurrent runs,
one is killed with SIGKILL mid-way, and every run still completes with its refund and
its notice written exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from subprocess import Popen

from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import runs_per_key, seed_orders
from tests.support.order_desk import start_refund
from tests.support.processes import process_env, target, wait_for_pollers, worker_process
from tests.support.runs import AgentHandle
from tests.support.stuck_runs import results_within
from tests.support.waiting import until

RUNS = 50
WORKERS = 3


def identity(worker: Popen[bytes]) -> str:
    """The prefix of the SDK's default worker identity, `pid@host`."""
    return f"{worker.pid}@"


async def workflow_task_identities(handle: AgentHandle) -> set[str]:
    history = await handle.fetch_history()
    return {
        event.workflow_task_started_event_attributes.identity
        for event in history.events
        if event.HasField("workflow_task_started_event_attributes")
    }


async def test_runs_survive_a_killed_worker_with_side_effects_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    orders = seed_orders(ledger, [f"S-{2000 + i}" for i in range(RUNS)])
    queue = f"scale-{uuid.uuid4().hex[:8]}"
    # No OPENAI_* variables: each worker runs its own offline scripted model.
    env = process_env(target(dev_env), queue, ledger)
    client = dev_env.client
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    with ExitStack() as stack:
        workers = [stack.enter_context(worker_process(env, log)) for log in logs]
        await wait_for_pollers(client, queue, workers)
        handles = await asyncio.gather(*(start_refund(client, queue, order) for order in orders))
        victim = workers[0]

        async def a_third_refunded() -> bool:
            return sum(runs_per_key(ledger, "refunds").values()) >= RUNS // 3

        await until(a_third_refunded, f"{RUNS // 3} refunds never came", within=120)
        victim.kill()
        victim.wait()
        # Activities heartbeat, so the server retries what the victim held within the
        # heartbeat timeout (10 s), on a live worker and with the same idempotency key.
        results = await results_within(handles, 120, logs)
        assert all(w.poll() is None for w in workers[1:]), "a surviving worker died"

    assert [r.status for r in results] == ["completed"] * RUNS
    assert all("refunded $10.00" in (r.answer or "") for r in results)
    every_run_once = Counter({h.id: 1 for h in handles})
    assert runs_per_key(ledger, "refunds") == every_run_once
    assert runs_per_key(ledger, "notices") == every_run_once
    with sqlite3.connect(ledger) as db:
        refunded = sorted(row[0] for row in db.execute("SELECT order_id FROM refunds"))
    assert refunded == orders
    # The kill really happened mid-way: the victim worked on runs that others finished.
    identities = await asyncio.gather(*(workflow_task_identities(h) for h in handles))
    moved = [
        ids
        for ids in identities
        if any(i.startswith(identity(victim)) for i in ids)
        and any(not i.startswith(identity(victim)) for i in ids)
    ]
    assert moved
