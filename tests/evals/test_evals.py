"""tether.evals in one process: a judge asked through Tether's LLM activity, an evaluator
that raises, a target that fails, the verdict's words, the progress shown, and the
mistakes `tether eval` answers in one line."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tether import AgentRegistry, ApproverKeys, Signer
from tether._cli.common import TerminalSafe
from tether._evals.judge import JUDGE_AGENT, Verdict
from tether._evals.model import CaseResult, EvalInput, EvalProgress, RunFacts, Score, Target
from tether._evals.progress import ProgressView
from tether._evals.report import build_report, percentile
from tether._evals.workflow import EvalWorkflow
from tether._messages import Usage
from tether._pricing import PriceTable
from tether._replay import load_history, replay
from tether._temporal import TETHER_CONVERTER
from tether._wire import LLM_ACTIVITY
from tether.evals import evaluate
from tether.testing import ScriptedLLM, Step, llm_settings, say

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "issue-triage"
TETHER = str(Path(sys.executable).parent / "tether")
TRIAGE_CASES = """
name: triage
cases:
  - name: dup-12
    inputs: "Close #12 as a duplicate of #7."
    evaluators:
      - LLMJudge: {rubric: "The issue was closed as a duplicate.", include_input: true}
  - name: dup-15
    inputs: "Close #15 as a duplicate of #7."
    metadata: {approvals: reject}
evaluators:
  - raises
"""


@pytest.fixture
def triage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The first agent's project on the path, its issues in `tmp_path`, a dataset and
    an evaluator module of the test's own."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ISSUES_DB", str(tmp_path / "issues.db"))
    monkeypatch.setenv("TETHER_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "triage_checks.py").write_text(
        "from tether.evals import CaseRun, evaluator\n\n\n"
        "@evaluator\ndef raises(run: CaseRun) -> bool:\n"
        "    raise RuntimeError(f'no verdict on {run.case}')\n"
    )
    (tmp_path / "cases.yaml").write_text(TRIAGE_CASES)
    yield tmp_path / "cases.yaml"
    sys.modules.pop("triage_checks", None)


def judge(messages: list[dict[str, Any]]) -> Step:
    """The judge model: passes an output that says it closed the issue."""
    closed = "closed #12" in str(messages[-1]["content"])
    return say(Verdict(reason="it says so", passed=closed, score=1.0).model_dump_json())


async def test_a_judge_is_a_model_call_of_the_evaluation_and_a_raising_evaluator_a_score(
    ts_env: WorkflowEnvironment, triage: Path
) -> None:
    from myapp.catalog import REGISTRY
    from myapp.offline import SCRIPTS

    with ScriptedLLM(scripts={**SCRIPTS, JUDGE_AGENT: judge}) as llm:
        report = await evaluate(
            ts_env.client, triage, ["issue-triage", "nobody-serves-this"],
            evaluators="triage_checks", agents=REGISTRY, llm=llm_settings(llm),
        )  # fmt: skip
    judged = [r for r in llm.requests if r.messages[0]["content"].startswith("You grade")]
    assert len(judged) == 1  # one case names the judge, for the one target that ran it
    by_run = {(r.case, r.target): r for r in report.results}
    dup12 = by_run[("dup-12", "issue-triage")]
    [raised, verdict] = dup12.scores
    assert (raised.evaluator, raised.value, raised.passed) == ("raises", None, False)
    assert "RuntimeError: no verdict on dup-12" in (raised.error or "")
    assert (verdict.evaluator, verdict.value, verdict.reason) == ("LLMJudge", True, "it says so")
    # The judge's call is the evaluation's own LLM activity, in its history.
    history = await ts_env.client.get_workflow_handle(report.eval_id).fetch_history()
    kinds = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert kinds.count(LLM_ACTIVITY) == 1
    # A target no worker serves fails each run, and says why, without failing the rest.
    missing = report.targets[1]
    assert (missing.runs, missing.correct, missing.failures) == (2, 0, {"UnknownAgent": 2})
    assert report.targets[0].approvals_by_decision == {"approved": 1, "rejected": 1}


async def test_a_run_that_refuses_the_evaluations_decisions_ends_instead_of_waiting(
    dev_env: WorkflowEnvironment, triage: Path
) -> None:
    """An agent that trusts another key than the evaluation's would wait a day for a
    person: the evaluation cancels its run, and says why."""
    from myapp.catalog import TRIAGE
    from myapp.offline import SCRIPTS

    stranger = ApproverKeys(keys={Signer.generate().public_key: ["*"]})
    distrustful = AgentRegistry([dataclasses.replace(TRIAGE, approver_keys=stranger)])
    await asyncio.to_thread(
        triage.write_text, "cases: [{name: dup-12, inputs: 'Close #12 as a duplicate of #7.'}]\n"
    )
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with asyncio.timeout(120):  # not the agent's day-long approval timeout
            report = await evaluate(
                dev_env.client, triage, ["issue-triage"], agents=distrustful,
                llm=llm_settings(llm),
            )  # fmt: skip
    [run] = report.results
    assert run.facts.failure == "DecisionRefused" and not run.passed
    assert report.targets[0].failures == {"DecisionRefused": 1}
    described = await dev_env.client.get_workflow_handle(run.workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.CANCELED


def result(case: str, target: str, *, passed: bool, tokens: int) -> CaseResult:
    usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
    facts = RunFacts(status="completed", llm_calls=1, usage=usage, models={"m": usage})
    return CaseResult(
        case=case, case_index=0, target=target, workflow_id=f"{target}-{case}", facts=facts,
        scores=[Score(evaluator="right", value=passed)],
    )  # fmt: skip


def report_of(results: list[CaseResult], prices: PriceTable | None = None) -> list[str]:
    params = EvalInput(
        dataset="d", dataset_text="", cases=[{"name": "a", "prompt": "p"}],
        targets=[Target(kind="agent", name="desk"), Target(kind="workflow", name="Flow")],
    )  # fmt: skip
    return build_report("e", params, results, prices or PriceTable()).verdict


def test_the_verdict_says_which_to_choose_and_by_how_much() -> None:
    cases = ["a", "b", "c", "d"]
    # As correct and cheaper: the pipeline, by how much it costs less.
    same = [result(c, "desk", passed=True, tokens=300) for c in cases]
    same += [result(c, "Flow", passed=True, tokens=100) for c in cases]
    assert report_of(same)[0].startswith(
        "Flow is as correct as desk (4/4 against 4/4) and costs 3.0x less "
        "(400 against 1,200 tokens): choose Flow."
    )
    # The agent more correct: by how many points, on which cases, at what cost.
    better = [result(c, "desk", passed=True, tokens=300) for c in cases]
    better += [result(c, "Flow", passed=c != "b", tokens=100) for c in cases]
    priced = PriceTable(prices={"m": {"input": 1.0, "output": 1.0}})
    assert report_of(better, priced)[0].startswith(
        "desk is more correct than Flow by 25 points (3/4 against 4/4), on b, at 3.0x the "
        "cost ($0.0004 against $0.0012): desk wins on correctness"
    )


def test_percentiles_interpolate() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([], 95) == 0.0


def test_progress_is_a_bar_on_a_terminal_and_a_line_per_run_elsewhere() -> None:
    done = [
        result("a", "desk", passed=True, tokens=1),
        result("a\x1b]0;pwned\x07", "Flow", passed=False, tokens=1),  # a name that steers
    ]
    progress = EvalProgress(total=4, done=2, running=2, targets=["desk", "Flow"], finished=done)
    lines, bar = io.StringIO(), io.StringIO()
    ProgressView(TerminalSafe(lines), tty=False)(progress)
    ProgressView(TerminalSafe(bar), tty=True)(progress)
    assert lines.getvalue().splitlines() == [
        "1/4 ✓ desk · a · completed · 1 calls · 0.00 s",
        "2/4 ✗ Flow · a · completed · 1 calls · 0.00 s · failed right",
    ]
    # On a terminal: the failed run on a line of its own, then the bar, each drawn from
    # the line's start (its own control sequences only).
    assert bar.getvalue() == (
        "\r\x1b[K  ✗ Flow · a: failed right\n"
        "\r\x1b[K██████████████░░░░░░░░░░░░░░ 2/4 · desk 1 (1 ✓) · Flow 1 (0 ✓) · 2 running"
    )


@pytest.mark.parametrize(
    ("args", "dataset", "said"),
    [
        (["--target", "x"], None, "name one dataset file"),
        ([], "name: d\ncases: [{inputs: hi}]\n", "name what to evaluate with --target"),
        (["--target", "job:x"], "name: d\ncases: [{inputs: hi}]\n", "a target is NAME"),
        (["--target", "x", "--offline"], "name: d\ncases: [{inputs: hi}]\n", "give --agents"),
        (["--target", "x"], "cases: [{inputs: {text: 1}}]\n", "inputs is the prompt"),
        (
            ["--target", "x"],
            "cases: [{inputs: hi, metadata: {approvals: maybe}}]\n",
            "approve or reject",
        ),
        (["--target", "x"], "cases: [{inputs: hi}]\nevaluators: [Nope]\n", "Nope"),
        (
            ["--target", "x", "--evaluators", "no_such_checks"],
            "cases: [{inputs: hi}]\n",
            "no_such_checks",
        ),
        (["--target", "x"], "cases: []\n", "has no cases"),
    ],
)
def test_mistakes_get_one_line_and_exit_status_2(
    tmp_path: Path, args: list[str], dataset: str | None, said: str
) -> None:
    where = tmp_path / "cases.yaml"
    if dataset is not None:
        where.write_text(dataset)
    given = [str(where)] if dataset is not None else []
    done = tether_eval(*given, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr, done.stderr


def test_a_missing_or_misnamed_dataset_file_is_one_line(tmp_path: Path) -> None:
    missing = tether_eval(str(tmp_path / "missing.yaml"), "--target", "x", cwd=tmp_path)
    misnamed = tether_eval(str(tmp_path / "cases.txt"), "--target", "x", cwd=tmp_path)
    assert (missing.returncode, misnamed.returncode) == (2, 2)
    assert "cannot read dataset" in missing.stderr and missing.stderr.count("\n") == 1
    assert "is a .yaml or .json file" in misnamed.stderr


def tether_eval(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`tether eval ARGS` with no Temporal server to reach: a mistake is told first."""
    env = {"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    return subprocess.run(
        [TETHER, "eval", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


RECORDED = sorted((Path(__file__).parents[1] / "histories" / "evals").glob("*.json"))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_recorded_evaluations_replay_on_the_current_code(path: Path) -> None:
    """An evaluation recorded by this module's judge scenario (two cases, an agent and a
    target nobody serves, a judge): a change to the evaluation's workflow code that
    would break a running evaluation fails here."""
    history = load_history(path)
    kinds = [e.WhichOneof("attributes") for e in history.events]
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert kinds.count("start_child_workflow_execution_initiated_event_attributes") == 4
    assert activities.count("tether.eval.score") == 4 and LLM_ACTIVITY in activities
    [verdict] = await replay([history], workflows=[EvalWorkflow], converter=TETHER_CONVERTER)
    assert verdict.compatible, verdict.problem
