"""Agent or workflow, decided on your own cases: durable evaluations with a report.

    from tether.evals import CaseRun, evaluate, evaluator, render_html

    @evaluator                      # in myapp/evals.py; a dataset names it
    def closed_the_duplicate(run: CaseRun) -> bool:
        return [c.name for c in run.called("close_issue")] == ["close_issue"]

    report = await evaluate(client, "evals/triage.yaml", ["issue-triage", "workflow:Triage"],
                            evaluators="myapp.evals")
    Path("report.html").write_text(render_html(report))

A dataset is a YAML or JSON file in pydantic-evals' format (its `Dataset`/`Case`, and
its evaluators where they fit; `pip install 'tether-agents[evals]'`). `evaluate` runs
every case through every target (an agent by name, `workflow:TYPE` for a workflow that
takes a `PipelineInput`) as an evaluation workflow: one child run per case and target,
`concurrency` at a time, each scored by the dataset's evaluators from what its history
holds (its answer, transcript, tool calls, decisions, model calls, tokens, Temporal
actions). A process that dies mid-way loses nothing: `resume` (or `tether eval --resume
ID`) goes on where it was, with no run started twice and no model call made twice.
Calls that wait for a person are answered as each case's `metadata.approvals` says
(`approve` or `reject`), signed. The report (`EvalReport`) holds each target's figures
side by side and a verdict; `render_text` and `render_html` show it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client

from tether._agents import AgentRegistry
from tether._evals.dataset import (
    CaseRun,
    case_run,
    evaluator,
    evaluator_types,
    parse_dataset,
    read_dataset,
)
from tether._evals.html import render_html
from tether._evals.model import Approvals, CaseResult, EvalProgress, Score, Target, ToolEffect
from tether._evals.report import EvalReport, TargetSummary, build_report
from tether._evals.runner import (
    Progress,
    Serving,
    eval_queue,
    follow,
    new_input,
    own_signer,
    recorded_input,
    reloaded,
    serving_worker,
    start,
)
from tether._evals.text import render_text
from tether._pricing import PriceTable
from tether._public import rehome_all
from tether._settings import LlmSettings, task_queue
from tether._signing import Signer

__all__ = [
    "CaseResult",
    "CaseRun",
    "EvalProgress",
    "EvalReport",
    "Score",
    "Target",
    "TargetSummary",
    "ToolEffect",
    "case_run",
    "evaluate",
    "evaluator",
    "render_html",
    "render_text",
    "resume",
]


async def evaluate(
    client: Client,
    dataset: str | Path,
    targets: Sequence[str | Target],
    *,
    evaluators: str | None = None,
    agents: AgentRegistry | None = None,
    llm: LlmSettings | None = None,
    id: str | None = None,
    concurrency: int = 4,
    approvals: Approvals = "approve",
    signer: Signer | None = None,
    judge_model: str | None = None,
    prices: PriceTable | None = None,
    on_progress: Progress | None = None,
) -> EvalReport:
    """Run a dataset's cases through `targets` as a durable evaluation; its report.

    Args:
        client: A client with Tether's data converter (`tether.connect()`).
        dataset: The dataset file (`.yaml`, `.yml` or `.json`).
        targets: Agents by name, workflows as `workflow:TYPE`, either with `@QUEUE`
            (default: the evaluation's own queue when `agents` is given, else
            TETHER_TASK_QUEUE).
        evaluators: The module whose evaluators the dataset names.
        agents: Serve the targets in this process too (a registry), with `llm`; without
            it, the targets' workers must be running.
        llm: Where this process's model calls go (the targets' with `agents`, and a
            judge's); None reads the environment.
        id: The evaluation's workflow id (default `eval-<random>`).
        concurrency: Runs at a time.
        approvals: How calls that wait for a person are answered in cases that do not
            say (their `metadata.approvals`).
        signer: Signs those decisions, as its `name` (default `tether-eval`); the
            targets' workers must trust its key for that name. With `agents` and no
            signer, the evaluation makes a key of its own that its runs trust (kept
            under TETHER_STATE_DIR, default `.tether/evals/`, for `resume`).
        judge_model: The model an `LLMJudge` without one asks.
        prices: Prices per model for the report's cost (default TETHER_PRICES).
        on_progress: Called with the evaluation's progress as runs end.

    Returns:
        The report: per target and side by side, with a verdict.
    """
    text, fmt = read_dataset(dataset)
    loaded = parse_dataset(
        text,
        fmt,
        name=Path(dataset).stem,
        evaluators=evaluator_types(evaluators),
        approvals=approvals,
    )
    queue = None if agents is not None else task_queue()
    chosen = [t if isinstance(t, Target) else Target.parse(t) for t in targets]
    chosen = [t.model_copy(update={"task_queue": t.task_queue or queue}) for t in chosen]
    eval_id = id or f"eval-{uuid.uuid4().hex[:8]}"
    signer = signer or (own_signer(eval_id) if agents is not None else None)
    params = new_input(
        loaded,
        chosen,
        evaluators=evaluators,
        concurrency=concurrency,
        judge_model=judge_model,
    )
    serving = Serving(agents, llm, signer)
    async with serving_worker(client, loaded, serving, eval_queue(eval_id)):
        results = await follow(await start(client, params, eval_id), on_progress)
    return build_report(eval_id, params, results, prices or PriceTable.from_env())


async def resume(
    client: Client,
    eval_id: str,
    *,
    agents: AgentRegistry | None = None,
    llm: LlmSettings | None = None,
    signer: Signer | None = None,
    prices: PriceTable | None = None,
    on_progress: Progress | None = None,
) -> EvalReport:
    """Go on with evaluation `eval_id` where it was, or report one that ended.

    Args:
        client: As for `evaluate`.
        eval_id: The evaluation's workflow id.
        agents: As for `evaluate`: the same registry it was started with, if any.
        llm: As for `evaluate`.
        signer: As for `evaluate`: the same key, which its runs trust.
        prices: As for `evaluate`.
        on_progress: As for `evaluate`.

    Returns:
        The report, once every run has ended and been scored.
    """
    params, queue = await recorded_input(client, eval_id)
    signer = signer or (own_signer(eval_id) if agents is not None else None)
    async with serving_worker(client, reloaded(params), Serving(agents, llm, signer), queue):
        results = await follow(client.get_workflow_handle(eval_id), on_progress)
    return build_report(eval_id, params, results, prices or PriceTable.from_env())


rehome_all(globals(), __all__)
