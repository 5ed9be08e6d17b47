"""Scale-out on a real dev server: three worker processes share fifty concurrent runs,
one is killed with SIGKILL mid-way, and every run still completes with its refund and
its email written exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from subprocess import Popen

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.conftest import approve_all
from tests.processes import process_env, target, worker_process
from tether.seam import AgentInput, AgentResult
from tools.shop_db import connect
from workflows.agent import AgentWorkflow

RUNS = 50
WORKERS = 3
Run = WorkflowHandle[AgentWorkflow, AgentResult]


def seed_orders(shop: Path) -> list[str]:
    """Orders of the test's own, delivered yesterday, so every run's refund is allowed
    (the shop refuses a second refund of an order)."""
    delivered = (date.today() - timedelta(days=1)).isoformat()
    orders = [f"S-{2000 + i}" for i in range(RUNS)]
    with connect(shop) as db:
        db.executemany(
            "INSERT INTO orders VALUES (?, 'C-2', 'Widget', 1000, 'delivered', ?, ?)",
            [(order, delivered, delivered) for order in orders],
        )
    return orders


def runs_per_key(shop: Path, table: str) -> Counter[str]:
    """Rows per run: idempotency keys are `workflow id:turn:tool call id`."""
    with sqlite3.connect(shop) as db:
        keys = [row[0] for row in db.execute(f"SELECT idempotency_key FROM {table}")]
    return Counter(key.split(":")[0] for key in keys)


def identity(worker: Popen[bytes]) -> str:
    """The prefix of the SDK's default worker identity, `pid@host`."""
    return f"{worker.pid}@"


async def wait_for_pollers(client: Client, queue: str, workers: Sequence[Popen[bytes]]) -> None:
    """Until every worker polls for workflow and activity tasks, so all share the load."""
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        while True:
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                )
            )
            polling = {p.identity.split("@")[0] for p in described.pollers}
            if {str(w.pid) for w in workers} <= polling:
                break
            assert all(w.poll() is None for w in workers), "a worker exited while starting"
            await asyncio.sleep(0.2)


async def wait_for_refunds(shop: Path, count: int) -> None:
    while True:
        if sum(runs_per_key(shop, "refunds").values()) >= count:
            return
        await asyncio.sleep(0.05)


async def workflow_task_identities(handle: Run) -> set[str]:
    history = await handle.fetch_history()
    return {
        event.workflow_task_started_event_attributes.identity
        for event in history.events
        if event.HasField("workflow_task_started_event_attributes")
    }


async def test_runs_survive_a_killed_worker_with_side_effects_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.db"
    orders = seed_orders(shop)
    queue = f"scale-{uuid.uuid4().hex[:8]}"
    # No OPENAI_* variables: each worker runs its own offline scripted model.
    env = process_env(target(dev_env), queue, shop)
    client = dev_env.client
    with ExitStack() as stack:
        workers = [
            stack.enter_context(worker_process(env, tmp_path / f"worker-{i}.log"))
            for i in range(WORKERS)
        ]
        await wait_for_pollers(client, queue, workers)
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    AgentWorkflow.run,
                    AgentInput(
                        agent="support-desk", prompt=f"Order {order} arrived broken, refund it."
                    ),
                    id=f"{queue}-{order}",
                    task_queue=queue,
                )
                for order in orders
            )
        )
        # A person approves every refund as it comes, while workers come and go.
        approvals = asyncio.gather(*(approve_all(h, within=120) for h in handles))
        victim = workers[0]
        await wait_for_refunds(shop, RUNS // 3)
        victim.kill()
        victim.wait()
        # Activities heartbeat, so the server retries what the victim held within the
        # heartbeat timeout (10 s), on a live worker and with the same idempotency key.
        await asyncio.wait_for(approvals, 120)
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
        assert all(w.poll() is None for w in workers[1:]), "a surviving worker died"

    assert [r.status for r in results] == ["completed"] * RUNS
    assert all("refunded $10.00" in (r.answer or "") for r in results)
    every_run_once = Counter({h.id: 1 for h in handles})
    assert runs_per_key(shop, "refunds") == every_run_once
    assert runs_per_key(shop, "outbox") == every_run_once
    with sqlite3.connect(shop) as db:
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
