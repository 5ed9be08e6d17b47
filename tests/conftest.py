"""Fixtures: Temporal environments from installed binaries, the scripted LLM and a
fresh order-desk ledger per test; Ctrl-C delivered even to a suite started in the
background. Helpers live in tests/support."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.approvals import cancel_approvers
from tests.support.ledger import LEDGER_VARIABLE
from tests.support.runs import terminate_open_runs
from tether.testing import ScriptedLLM, dev_server, time_skipping


def pytest_configure(config: pytest.Config) -> None:
    """Started as a background job (`... &` without job control), this process and every
    process it starts ignore Ctrl-C, which the tests that press it in a `tether` command,
    or stop a model server with it, need delivered: take it back (an ignored signal stays
    ignored across exec; a handler does not)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server on free ports, with Tether's search attributes."""
    async with dev_server() as env:
        yield env


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh order-desk ledger for every test, where this process's order-desk tools
    write (tests/support/ledger.py); a test that reads it asks for it by name."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv(LEDGER_VARIABLE, str(path))
    return path


@pytest.fixture(autouse=True)
async def _cancel_approvers() -> AsyncIterator[None]:
    """Approvers a test started beside it (see tests/support/approvals.py) end with it."""
    yield
    await cancel_approvers()
