"""The report of an evaluation: per target, side by side, and a verdict.

Built from the evaluation's results on the client (a pure function), so a price table
given at report time prices every run again without running anything.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations

from pydantic import BaseModel, Field

from tether._evals.model import CaseResult, EvalInput, RunFacts, Target
from tether._pricing import PriceTable


class EvaluatorSummary(BaseModel):
    """One evaluator over a target's runs."""

    name: str
    passed: int = Field(description="Runs whose assertion held.")
    asserted: int = Field(description="Runs it gave an assertion (True/False) for.")
    mean: float | None = Field(default=None, description="The mean of its numeric scores.")
    failing: list[str] = Field(default_factory=list, description="Cases it failed.")


class TargetSummary(BaseModel):
    """One target's runs, summed up."""

    target: str
    kind: str
    runs: int
    correct: int = Field(description="Runs that passed every assertion and did not fail.")
    evaluators: list[EvaluatorSummary]
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    tokens: int
    cost_usd: float | None = Field(description="None: a model without a price.")
    unpriced: list[str] = Field(default_factory=list, description="Models without a price.")
    seconds_p50: float
    seconds_p95: float
    seconds_total: float
    approvals: int = Field(description="Decisions asked of a person (here the policy).")
    approvals_by_decision: dict[str, int] = Field(default_factory=dict)
    actions: int = Field(description="Temporal billable actions, estimated from history.")
    history_events: int
    history_bytes: int
    failures: dict[str, int] = Field(default_factory=dict, description="Runs per failure kind.")
    failing_cases: list[str] = Field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.runs if self.runs else 0.0


class EvalReport(BaseModel):
    """An evaluation's report: `tether eval --json` prints it."""

    eval_id: str
    dataset: str
    cases: int
    targets: list[TargetSummary]
    verdict: list[str]
    results: list[CaseResult]


def build_report(
    eval_id: str, params: EvalInput, results: list[CaseResult], prices: PriceTable
) -> EvalReport:
    """The report of evaluation `eval_id`'s `results`, priced by `prices` (a model
    without a price there is priced by what its worker reported, if it did)."""
    summaries = [
        summarize(t, [r for r in results if r.target == t.name], prices) for t in params.targets
    ]
    return EvalReport(
        eval_id=eval_id,
        dataset=params.dataset,
        cases=len({r.case for r in results}),
        targets=summaries,
        verdict=verdict(summaries),
        results=results,
    )


def run_cost(facts: RunFacts, prices: PriceTable) -> tuple[float | None, list[str]]:
    """A run's cost in USD by `prices`, and the models it has no price for."""
    total, unpriced = 0.0, []
    for model, usage in facts.models.items():
        cost = prices.cost(model, usage)
        if cost is None:
            unpriced.append(model)
        else:
            total += cost
    if unpriced and facts.worker_cost_usd is not None and len(facts.models) == 1:
        return facts.worker_cost_usd, []  # the worker's own price table priced it
    return (None if unpriced else round(total, 8)), unpriced


def summarize(target: Target, runs: list[CaseResult], prices: PriceTable) -> TargetSummary:
    costs = [run_cost(r.facts, prices) for r in runs]
    unpriced = sorted({m for _, missing in costs for m in missing})
    seconds = sorted(r.facts.seconds for r in runs)
    decisions = Counter(
        "approved" if a.approve else "rejected" for r in runs for a in r.facts.approvals
    )
    return TargetSummary(
        target=target.name,
        kind=target.kind,
        runs=len(runs),
        correct=sum(r.passed for r in runs),
        evaluators=_evaluators(runs),
        llm_calls=sum(r.facts.llm_calls for r in runs),
        prompt_tokens=sum(r.facts.usage.prompt_tokens for r in runs),
        completion_tokens=sum(r.facts.usage.completion_tokens for r in runs),
        tokens=sum(r.facts.usage.total_tokens for r in runs),
        cost_usd=None if unpriced else round(sum(c or 0.0 for c, _ in costs), 6),
        unpriced=unpriced,
        seconds_p50=percentile(seconds, 50),
        seconds_p95=percentile(seconds, 95),
        seconds_total=round(sum(seconds), 3),
        approvals=sum(decisions.values()),
        approvals_by_decision=dict(decisions),
        actions=sum(r.facts.actions for r in runs),
        history_events=sum(r.facts.history_events for r in runs),
        history_bytes=sum(r.facts.history_bytes for r in runs),
        failures=dict(Counter(r.facts.failure for r in runs if r.facts.failure)),
        failing_cases=[r.case for r in runs if not r.passed],
    )


def _evaluators(runs: list[CaseResult]) -> list[EvaluatorSummary]:
    names = list(dict.fromkeys(s.evaluator for r in runs for s in r.scores))
    out = []
    for name in names:
        scores = [(r.case, s) for r in runs for s in r.scores if s.evaluator == name]
        asserted = [(case, s.passed) for case, s in scores if s.passed is not None]
        numbers = [
            float(s.value)
            for _, s in scores
            if isinstance(s.value, int | float) and not isinstance(s.value, bool)
        ]
        out.append(
            EvaluatorSummary(
                name=name,
                passed=sum(1 for _, ok in asserted if ok),
                asserted=len(asserted),
                mean=round(sum(numbers) / len(numbers), 4) if numbers else None,
                failing=[case for case, ok in asserted if not ok],
            )
        )
    return out


def percentile(values: list[float], p: float) -> float:
    """The `p`th percentile of sorted `values`, linearly interpolated (0 for none)."""
    if not values:
        return 0.0
    rank = (len(values) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    value = values[low] + (values[high] - values[low]) * (rank - low)
    return round(value, 3)


def verdict(targets: list[TargetSummary]) -> list[str]:
    """The decision framework applied to each pair of targets (a workflow against an
    agent first): the more correct one, by how much; the cheaper of two equally
    correct ones, by how much; what each asks of a person."""
    pairs = sorted(combinations(targets, 2), key=lambda pair: pair[0].kind == pair[1].kind)
    lines = [_pair(a, b) + _asks(a, b) for a, b in pairs]
    if len(targets) == 1:
        t = targets[0]
        lines.append(f"{t.target}: {t.correct}/{t.runs} correct, {_cost(t)}.")
    return lines


def _pair(a: TargetSummary, b: TargetSummary) -> str:
    if a.kind == "agent" and b.kind != "agent":
        a, b = b, a  # the workflow first: "the pipeline is as correct and cheaper"
    points = round(100 * (a.accuracy - b.accuracy))
    cheaper, dearer, ratio, unit = _cheaper(a, b)
    score = f"{a.correct}/{a.runs} against {b.correct}/{b.runs}"
    if points == 0:
        if cheaper is None or dearer is None:
            return f"{a.target} and {b.target} are as correct ({score}) and cost the same."
        return (
            f"{cheaper.target} is as correct as {dearer.target} ({score}) and costs "
            f"{ratio:.1f}x less ({unit}): choose {cheaper.target}."
        )
    better, worse = (a, b) if points > 0 else (b, a)
    gained = sorted(set(worse.failing_cases) - set(better.failing_cases))
    text = f"{better.target} is more correct than {worse.target} by {abs(points)} points ({score})"
    if gained:
        text += f", on {', '.join(gained[:5])}" + (" …" if len(gained) > 5 else "")
    if cheaper is better:
        return text + f", and costs {ratio:.1f}x less ({unit}): choose {better.target}."
    if cheaper is None:
        return text + f" at the same cost: choose {better.target}."
    return (
        text + f", at {ratio:.1f}x the cost ({unit}): {better.target} wins on correctness; "
        f"{worse.target} only where {abs(points)} points matter less than the cost."
    )


def _asks(a: TargetSummary, b: TargetSummary) -> str:
    """What else differs: approvals asked of a person, and the median wall time."""
    if a.kind == "agent" and b.kind != "agent":
        a, b = b, a
    return (
        f" {a.target} asks a person {_times(a.approvals)} against {_times(b.approvals)}, and takes "
        f"{a.seconds_p50:.2f} s per run against {b.seconds_p50:.2f} s (p50)."
    )


def _times(n: int) -> str:
    return {0: "never", 1: "once"}.get(n, f"{n} times")


def _cheaper(
    a: TargetSummary, b: TargetSummary
) -> tuple[TargetSummary | None, TargetSummary | None, float, str]:
    """The cheaper target, the dearer one, how many times cheaper, and in what (money
    when both are priced, else tokens)."""
    if a.cost_usd is not None and b.cost_usd is not None and (a.cost_usd or b.cost_usd):
        x, y, unit = a.cost_usd, b.cost_usd, f"${a.cost_usd:.4f} against ${b.cost_usd:.4f}"
    else:
        x, y, unit = float(a.tokens), float(b.tokens), f"{a.tokens:,} against {b.tokens:,} tokens"
    if x == y:
        return None, None, 1.0, unit
    low, high = (a, b) if x < y else (b, a)
    ratio = max(x, y) / min(x, y) if min(x, y) > 0 else math.inf
    return low, high, ratio, unit


def _cost(t: TargetSummary) -> str:
    if t.cost_usd is not None:
        return f"${t.cost_usd:.4f}"
    return f"{t.tokens:,} tokens (no price for {', '.join(t.unpriced)})"
