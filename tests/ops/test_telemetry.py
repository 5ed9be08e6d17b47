"""Opt-in metrics and traces: a real worker process serves Prometheus metrics and
exports OpenTelemetry spans; bad settings stop it with one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.processes import (
    cli,
    free_port,
    process_env,
    target,
    worker_command,
    worker_process,
)
from tether import ConfigurationError
from tether._telemetry import Telemetry


async def test_worker_serves_metrics_and_exports_spans(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = process_env(
        target(dev_env),
        f"telemetry-{uuid.uuid4().hex[:8]}",
        tmp_path / "ledger.db",
        TETHER_PROMETHEUS_ADDRESS=address,
        TETHER_TRACING="console",
    )
    log = tmp_path / "worker.log"
    with worker_process(env, log):
        done = cli(env, "run", "Where is order A-1003?", "--json")
        assert done.returncode == 0, done.stderr
        metrics = await asyncio.to_thread(scrape, f"http://{address}/metrics")
    assert json.loads(done.stdout)["status"] == "completed"
    completed = [
        line for line in metrics.splitlines() if line.startswith("temporal_workflow_completed")
    ]
    assert completed, metrics[:2000]
    assert float(completed[0].rsplit(" ", 1)[1]) >= 1
    # The console exporter prints each span as JSON once the stopping worker flushes.
    spans = log.read_text()
    for name in ("RunWorkflow:AgentWorkflow", "StartActivity:tether.llm", "RunActivity:tether.llm"):
        assert f'"name": "{name}"' in spans, spans[-3000:]


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TETHER_PROMETHEUS_ADDRESS": "9464"}, "TETHER_PROMETHEUS_ADDRESS must be HOST:PORT"),
        ({"TETHER_TRACING": "jaeger"}, "TETHER_TRACING must be one of otlp, console, not 'jaeger'"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Telemetry.from_env(env)


def test_tracing_without_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # import now fails
    with pytest.raises(ConfigurationError, match=r"pip install 'tether-agents\[otel\]'"):
        Telemetry.from_env({"TETHER_TRACING": "otlp"})


def test_nothing_is_exported_by_default() -> None:
    telemetry = Telemetry.from_env({})
    assert telemetry.runtime() is None
    assert telemetry.interceptors() == []


def test_worker_stops_on_a_bad_setting_with_one_line(tmp_path: Path) -> None:
    env = process_env("127.0.0.1:1", "unused", tmp_path / "ledger.db", TETHER_TRACING="yes")
    done = subprocess.run(worker_command(env), env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("tether: TETHER_TRACING must be one of otlp, console, not 'yes'")
