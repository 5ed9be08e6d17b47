"""The benchmark runs at its tiny size on every test run, so it cannot rot.

Benchmarks are not tests: nothing here asserts a time. It checks that every run
completed and that the report has its shape and sane (positive, consistent) numbers.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_benchmark_completes_and_reports(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--tiny", "--save", str(saved)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| target | tether | floor | ratio | limit | met |" in done.stdout
    report: dict[str, Any] = json.loads(saved.read_text())

    cells = report["cells"]
    assert {(c["agent"], c["mode"]) for c in cells} == {
        (agent, mode)
        for agent in ("standard", "long")
        for mode in ("plain asyncio", "floor", "tether")
    }
    assert {c["mode"] for c in report["slow_model"]} == {"plain asyncio", "floor", "tether"}
    for cell in [*cells, *report["variants"], *report["slow_model"]]:
        assert cell["completed"] == cell["runs"] > 0, cell
        assert 0 < cell["median_s"] <= cell["p95_s"], cell
        assert cell["runs_per_s"] > 0
        if cell["mode"] == "plain asyncio":
            assert cell["cpu_ms_per_run"] is None and cell["history"] is None
        else:
            assert cell["cpu_ms_per_run"] > 0
            history = cell["history"]
            assert history["events"] > 0 and history["bytes"] > 0
            # At least the start and one action per model and tool call.
            assert history["actions"] >= 1 + 2 * (cell["turns"] - 1) + 1
            assert sum(history["by_kind"].values()) > 0

    growth = report["growth"]
    assert [g["turns"] for g in growth] == sorted(g["turns"] for g in growth)
    for smaller, larger in itertools.pairwise(growth):
        for key in ("conversation_bytes", "floor_bytes", "tether_bytes"):
            assert 0 < smaller[key] < larger[key]

    parked = report["parked"]
    assert parked["parked"] == parked["runs"] > 0
    assert parked["rss_parked_mb"] > 0
    assert all(mb > 0 for mb in report["peak_rss_mb"].values())
    targets = report["targets"]
    # latency, CPU, history, actions, throughput, the slow model against plain, growth
    assert len(targets) == 7
    for target in targets:
        ratio, limit = target["ratio"], target["limit"]
        assert ratio > 0 and target["met"] == (
            ratio >= limit if target["at_least"] else ratio <= limit
        )
