"""Shared fixtures: Temporal environments from installed binaries, the scripted LLM,
a fresh shop database, and an in-process worker bound to them."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agents import REGISTRY
from tether.agents import AgentRegistry
from tether.pricing import PriceTable
from tether.scripted_llm import OFFLINE_MODEL, ScriptedLLM
from tether.seam import AgentResult, ApprovalDecision, PendingApproval
from tether.search_registration import ensure_search_attributes
from tether.settings import LlmSettings
from tether.visibility import SEARCH_KEYS
from worker import create_worker
from workflows.agent import AgentWorkflow

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    """An installed Temporal binary; the SDK's download fallback cannot work offline."""
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install the project (python3 dev.py setup)")
    return path


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers of days fire in milliseconds."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    ) as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server on free ports, with Tether's search attributes."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_KEYS,
    ) as env:
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


@asynccontextmanager
async def running_worker(
    client: Client,
    llm: ScriptedLLM | LlmSettings,
    *,
    agents: AgentRegistry = REGISTRY,
    prices: PriceTable | None = None,
) -> AsyncIterator[Worker]:
    """The project's real worker, in-process, on a fresh task queue, talking to `llm`
    (the scripted model, or any server the settings point at)."""
    settings = (
        llm
        if isinstance(llm, LlmSettings)
        else LlmSettings(
            base_url=llm.base_url, api_key="sk-test", model=OFFLINE_MODEL, offline=False
        )
    )
    worker = create_worker(
        client,
        settings,
        queue=f"test-{uuid.uuid4().hex[:8]}",
        agents=agents,
        prices=prices,
        searchable=await ensure_search_attributes(client),
    )
    async with worker:
        yield worker


async def pending_approvals(
    handle: WorkflowHandle[AgentWorkflow, AgentResult], count: int = 1, *, within: float = 30
) -> list[PendingApproval]:
    """Poll the run's state until `count` tool calls wait for a person.

    Queries do not unlock the time-skipping server's clock, so an approval timeout
    cannot fire while a test waits here (it would while awaiting the result).
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            pending = (await handle.query(AgentWorkflow.state)).pending_approvals
        except RPCError:
            pending = []  # not started yet, or its worker is being replaced
        if len(pending) >= count:
            return pending
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} approvals never became pending (saw {pending})")
        await asyncio.sleep(0.2)


async def approve_all(
    handle: WorkflowHandle[AgentWorkflow, AgentResult], count: int = 1, *, within: float = 30
) -> list[PendingApproval]:
    """Approve the run's next `count` calls that wait for a person, as a person would."""
    pending = await pending_approvals(handle, count, within=within)
    for call in pending:
        await handle.execute_update(
            AgentWorkflow.decide, ApprovalDecision(call_id=call.call_id, approve=True)
        )
    return pending
