"""The agent, tested with tether.testing: no provider, no running Temporal."""

import sqlite3
from pathlib import Path

import pytest

from myapp.catalog import REGISTRY, TRIAGE
from myapp.offline import SCRIPTS
from tether import AgentRun
from tether.testing import SIGNER, ScriptedLLM, time_skipping, worker


async def test_closes_a_duplicate_once_a_person_approves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISSUES_DB", str(tmp_path / "issues.db"))
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with time_skipping() as env, worker(env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                env.client,
                TRIAGE,
                "Close #12 as a duplicate of #7.",
                task_queue=w.task_queue,
            )
            [call] = await run.wait_for_approval()
            assert call.tool == "close_issue"
            # The call it was shown, signed with the key the test worker trusts.
            await run.approve(call, signer=SIGNER, approver="reviewer@example.com")
            result = await run.result()
    assert result.status == "completed"
    assert result.answer == "#12: closed #12 as a duplicate of #7"
    rows = sqlite3.connect(tmp_path / "issues.db").execute("SELECT * FROM closed").fetchall()
    assert [row[:2] for row in rows] == [(12, 7)]
