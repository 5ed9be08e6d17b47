"""The pipeline's branches, tested with tether.testing: no provider, no running Temporal."""

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle

from expenses.agents import REGISTRY
from expenses.offline import SCRIPTS
from expenses.pipeline import ExpensePipeline
from tether import AgentRun, PendingApproval
from tether.testing import SIGNER, ScriptedLLM, time_skipping, worker
from tether.workflow import PipelineInput


async def waiting_call(handle: WorkflowHandle[ExpensePipeline, str]) -> PendingApproval:
    """The call that waits for a person (the pipeline's `state` query, polled for 30 s)."""
    async with asyncio.timeout(30):
        while True:
            if pending := (await handle.query(ExpensePipeline.state)).pending_approvals:
                return pending[0]
            await asyncio.sleep(0.1)


async def run_claim(text: str, *, approve: bool | None = None) -> str:
    """The pipeline's outcome for `text`; `approve` decides the call that waits, if any."""
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with time_skipping() as env, worker(env.client, REGISTRY, llm) as w:
            handle = await env.client.start_workflow(
                ExpensePipeline.run,
                PipelineInput(text=text),
                id=f"expense-{uuid.uuid4().hex[:8]}",
                task_queue=w.task_queue,
            )
            if approve is not None:
                call = await waiting_call(handle)
                assert call.tool == "pay_expense"
                run = AgentRun.attach(env.client, handle.id)  # `tether approve` does the same
                # Signed with the key the test worker trusts: the run refuses unsigned ones.
                if approve:
                    await run.approve(call, signer=SIGNER, approver="lead@example.com")
                else:
                    await run.reject(
                        call, signer=SIGNER, reason="no receipt", approver="lead@example.com"
                    )
            return await handle.result()


@pytest.fixture
def paid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXPENSES_DB", str(tmp_path / "expenses.db"))
    return tmp_path / "expenses.db"


def rows(db: Path) -> list[tuple[str, float]]:
    if not db.exists():
        return []
    return sqlite3.connect(db).execute("SELECT employee, amount FROM paid").fetchall()


async def test_a_small_claim_is_paid_without_asking(paid: Path) -> None:
    assert await run_claim("Ada spent $42.50 on meals: lunch with the team") == "paid"
    assert rows(paid) == [("Ada", 42.5)]


async def test_a_large_claim_waits_for_a_person(paid: Path) -> None:
    assert await run_claim("Ada spent $900 on travel: train to Leeds", approve=False) == "rejected"
    assert rows(paid) == []
    assert await run_claim("Ada spent $900 on travel: train to Leeds", approve=True) == "paid"
    assert rows(paid) == [("Ada", 900.0)]


async def test_an_unusual_claim_is_reviewed_by_an_agent(paid: Path) -> None:
    assert await run_claim("Ada spent $60 on gifts: flowers for a client") == "paid"
    assert await run_claim("Ada spent $60 on gifts: flowers for the office") == "refused"
    assert rows(paid) == [("Ada", 60.0)]
