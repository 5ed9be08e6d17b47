"""`tether eval` on a project outside this repository: examples/expense-approval's
claims through its agent (expense-desk) and its pipeline (ExpensePipeline), the CLI as
a real process on a dev server, offline; its JSON report holds every figure, and its
HTML report renders its charts in Debian's Chromium."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, browser_page
from tests.support.doc_blocks import blocks
from tests.support.processes import target

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "expense-approval"
GUIDE = ROOT / "docs/guides/evaluations.md"
TETHER = str(Path(sys.executable).parent / "tether")
AGENT, PIPELINE = "expense-desk", "ExpensePipeline"
PRICES = {"tether-scripted": {"input": 0.15, "output": 0.6}}
SCREENSHOT = ARTIFACTS / "eval-report.png"


@pytest.fixture(scope="module")
async def evaluated(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[dict[str, Any], Path, str]]:
    """The evaluation's JSON report, its HTML page and what the CLI printed."""
    tmp = tmp_path_factory.mktemp("eval")
    (tmp / "prices.json").write_text(json.dumps(PRICES))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=target(dev_env),
        TETHER_STATE_DIR=str(tmp / "state"),
        EXPENSES_DB=str(tmp / "expenses.db"),
        PYTHONUNBUFFERED="1",
    )
    # The guide's command, priced, its report saved and its page written in `tmp`.
    [shown] = [b.code for b in blocks(GUIDE) if b.marker == "run by"]
    command = [TETHER, *shlex.split(shown)[1:], "--prices", str(tmp / "prices.json")]
    command += ["--save", str(tmp / "report.json"), "--html", str(tmp / "report.html")]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp / "report.json").read_text())
    # Once it ended, `eval status` prints its report, read from Temporal alone.
    again = [TETHER, "eval", "status", report["eval_id"], "--prices", str(tmp / "prices.json")]
    status = await asyncio.to_thread(
        subprocess.run, again, env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    yield report, tmp / "report.html", done.stdout + status.stdout


async def test_the_json_report_holds_every_figure_per_target(
    evaluated: tuple[dict[str, Any], Path, str], dev_env: WorkflowEnvironment
) -> None:
    report, _, printed = evaluated
    agent, pipeline = report["targets"]
    assert (agent["target"], agent["kind"]) == (AGENT, "agent")
    assert (pipeline["target"], pipeline["kind"]) == (PIPELINE, "workflow")
    for summary in (agent, pipeline):
        assert (summary["runs"], summary["correct"]) == (8, 8), summary["failing_cases"]
        assert [(e["name"], e["passed"], e["asserted"]) for e in summary["evaluators"]] == [
            ("paid_as_expected", 8, 8),
            ("outcome_as_expected", 8, 8),
        ]
        assert summary["llm_calls"] > 0 and summary["tokens"] > 0
        cost = (summary["prompt_tokens"] * 0.15 + summary["completion_tokens"] * 0.6) / 1_000_000
        assert summary["cost_usd"] == pytest.approx(cost, abs=1e-6)
        assert 0 < summary["seconds_p50"] <= summary["seconds_p95"]
        assert summary["actions"] > summary["runs"]  # each run starts, and calls a model
        assert summary["history_events"] > 0 and summary["history_bytes"] > 0
        assert summary["failures"] == {}
    # The agent asks before every payment it makes (five claims it accepts); the
    # pipeline only above $100 (two). Each case's policy answered: one rejection each.
    assert agent["approvals_by_decision"] == {"approved": 4, "rejected": 1}
    assert pipeline["approvals_by_decision"] == {"approved": 1, "rejected": 1}
    # The pipeline reads each claim with one model call; the agent needs more.
    assert pipeline["llm_calls"] < agent["llm_calls"]
    assert report["verdict"][0].startswith(f"{PIPELINE} is as correct as {AGENT} (8/8")
    assert "choose ExpensePipeline" in report["verdict"][0]

    results = report["results"]
    assert len(results) == 16 and {r["target"] for r in results} == {AGENT, PIPELINE}
    decisions = [a for r in results for a in r["facts"]["approvals"]]
    assert decisions and all(a["signed"] and a["approver"] == "tether-eval" for a in decisions)
    # Each run is a child of the evaluation, under an id made of its target and case.
    for r in results:
        described = await dev_env.client.get_workflow_handle(r["workflow_id"]).describe()
        assert described.parent_id == report["eval_id"]
    # The terminal table says the same, side by side, and `eval status` once more.
    [table, again] = printed.split("evaluation ")[1:]
    assert f"{report['eval_id']} · dataset expense-claims · 8 cases" in table
    assert table == again
    assert "8/8 (100%)" in table and f"- {report['verdict'][0]}" in table


@contextmanager
def serving(directory: Path) -> Iterator[str]:
    """The files of `directory` over HTTP on loopback (the browser reaches nothing else)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(directory))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)
async def test_the_html_report_draws_its_charts_in_chromium(
    evaluated: tuple[dict[str, Any], Path, str], tmp_path: Path
) -> None:
    _, html, _ = evaluated
    fetched: list[str] = []
    with serving(html.parent) as site:
        async with browser_page(tmp_path) as page:
            page.on("request", lambda request: fetched.append(request.url))
            await page.goto(f"{site}/{html.name}")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=SCREENSHOT, full_page=True)
            drawn = await page.evaluate(DRAWN)
    charts = {c["chart"]: c for c in drawn}
    assert all(c["shown"] for c in drawn), drawn
    assert charts["cost-correctness"]["points"] == 2  # one point per target
    # Both targets' bars: every assertion and each evaluator; p50 and p95.
    assert charts["correctness"]["bars"] == 2 * 3
    assert charts["latency"]["bars"] == 2 * 2
    assert charts["usage-model-calls"]["bars"] == 2
    assert charts["cases"]["cells"] == 16  # a cell per case and target
    assert fetched == [f"{site}/{html.name}"]  # self-contained: nothing else is fetched
    assert SCREENSHOT.stat().st_size > 10_000


# Each chart of the page, whether it is drawn (a box of some size), and its marks drawn.
DRAWN = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
    const size = el => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && box.height > 0;
    };
    return {chart: svg.dataset.chart, shown: size(svg),
            points: [...svg.querySelectorAll('circle.point')].filter(size).length,
            bars: [...svg.querySelectorAll('rect.bar')].filter(size).length,
            cells: [...svg.querySelectorAll('rect.cell')].filter(size).length};
})"""
