"""Worker tuning from the environment: defaults, overrides, and one-line errors."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.worker import Worker

from tests.support.processes import process_env, worker_command
from tether import ConfigurationError
from tether._settings import GRACEFUL_SHUTDOWN, SDK_DEFAULTS
from tether.worker import WorkerTuning

TUNING_VARS = (
    "TETHER_MAX_CONCURRENT_ACTIVITIES",
    "TETHER_MAX_CONCURRENT_WORKFLOW_TASKS",
    "TETHER_MAX_CACHED_WORKFLOWS",
    "TETHER_GRACEFUL_SHUTDOWN_SECONDS",
)


@pytest.fixture(autouse=True)
def no_tuning_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TUNING_VARS:
        monkeypatch.delenv(name, raising=False)


def test_unset_or_blank_tuning_keeps_the_sdk_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_MAX_CACHED_WORKFLOWS", " ")
    # All but the graceful shutdown: the SDK's cancels in-flight calls at once.
    assert WorkerTuning.from_env() == dataclasses.replace(
        SDK_DEFAULTS, graceful_shutdown=GRACEFUL_SHUTDOWN
    )
    # Same cache size as a Worker built without the setting.
    sdk = inspect.signature(Worker).parameters
    assert sdk["max_cached_workflows"].default == SDK_DEFAULTS.max_cached_workflows


def test_tuning_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_MAX_CONCURRENT_ACTIVITIES", "8")
    monkeypatch.setenv("TETHER_MAX_CONCURRENT_WORKFLOW_TASKS", " 20 ")
    monkeypatch.setenv("TETHER_MAX_CACHED_WORKFLOWS", "50")
    monkeypatch.setenv("TETHER_GRACEFUL_SHUTDOWN_SECONDS", "90")
    assert WorkerTuning.from_env() == WorkerTuning(
        max_concurrent_activities=8,
        max_concurrent_workflow_tasks=20,
        max_cached_workflows=50,
        graceful_shutdown=timedelta(seconds=90),
    )


def test_a_small_cache_lowers_the_default_task_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker never takes on more runs at once than it can keep (see the next test).
    monkeypatch.setenv("TETHER_MAX_CACHED_WORKFLOWS", "10")
    assert WorkerTuning.from_env().max_concurrent_workflow_tasks == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TETHER_MAX_CONCURRENT_ACTIVITIES", "lots", "must be a whole number >= 1, got 'lots'"),
        ("TETHER_MAX_CONCURRENT_ACTIVITIES", "0", "must be a whole number >= 1, got '0'"),
        ("TETHER_MAX_CONCURRENT_WORKFLOW_TASKS", "2.5", "must be a whole number >= 2"),
        ("TETHER_MAX_CACHED_WORKFLOWS", "-1", "must be a whole number >= 2, got '-1'"),
        ("TETHER_MAX_CACHED_WORKFLOWS", "0", "must be a whole number >= 2, got '0'"),
        ("TETHER_MAX_CONCURRENT_WORKFLOW_TASKS", "1", "must be a whole number >= 2, got '1'"),
        ("TETHER_MAX_CONCURRENT_WORKFLOW_TASKS", "2000", "below TETHER_MAX_CONCURRENT_WORKFLOW"),
        ("TETHER_GRACEFUL_SHUTDOWN_SECONDS", "soon", "must be a number of seconds, got 'soon'"),
        ("TETHER_GRACEFUL_SHUTDOWN_SECONDS", "-1", "must be between 0 and 3600, got -1"),
    ],
)
def test_bad_tuning_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name) as caught:
        WorkerTuning.from_env()
    assert message in str(caught.value)


def test_worker_reports_bad_tuning_in_one_line(tmp_path: Path) -> None:
    env = process_env("127.0.0.1:1", "unused", tmp_path / "ledger.db")
    env["TETHER_MAX_CONCURRENT_ACTIVITIES"] = "ten"
    done = subprocess.run(worker_command(env), env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "tether: TETHER_MAX_CONCURRENT_ACTIVITIES must be a whole number >= 1, got 'ten'"
    )
