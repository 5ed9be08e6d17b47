"""The support desk's runs in tests: whom they act for, orders of a test's own, the
shop's rows per run, and its worker."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.shop_db import connect
from support_desk import REGISTRY
from support_desk.agents import SUPPORT_DESK
from tests.support.approvals import approve_when_asked
from tests.support.runs import AgentHandle
from tether import AgentRegistry, LlmSettings, tool
from tether._pricing import PriceTable
from tether._run_io import AgentInput
from tether._settings import SDK_DEFAULTS
from tether.testing import ScriptedLLM, worker
from tether.worker import WorkerTuning
from tether.workflow import AgentWorkflow

# Who the support desk's runs act for: Ada Lovelace owns every order of the seeded
# shop; `seed_orders` gives its orders to SEEDED_CUSTOMER, Grace Hopper.
CUSTOMER = "C-1"
SEEDED_CUSTOMER = "C-2"


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


def refund_prompt(order: str) -> str:
    return f"Order {order} arrived broken, I want my money back."


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
    if approve:
        approve_when_asked(run)
    return run


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
