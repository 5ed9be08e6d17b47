"""The report as a terminal table: the targets side by side, one row per figure, then
the failing cases and the verdict."""

from __future__ import annotations

import functools
from collections.abc import Callable

from tether._evals.report import EvalReport, TargetSummary

Row = tuple[str, Callable[[TargetSummary], str]]


def money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def size(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.2f} MiB"


def rows(report: EvalReport) -> list[Row]:
    """Each row of the side-by-side table: its label and how a target shows it."""
    out: list[Row] = [
        ("correct", lambda t: f"{t.correct}/{t.runs} ({100 * t.accuracy:.0f}%)"),
    ]
    names = list(dict.fromkeys(e.name for t in report.targets for e in t.evaluators))
    out += [(f"  {name}", functools.partial(_evaluator, name=name)) for name in names]
    out += [
        ("model calls", lambda t: f"{t.llm_calls:,}"),
        (
            "tokens (in/out)",
            lambda t: f"{t.tokens:,} ({t.prompt_tokens:,}/{t.completion_tokens:,})",
        ),
        ("cost", lambda t: money(t.cost_usd)),
        ("wall time p50", lambda t: f"{t.seconds_p50:.2f} s"),
        ("wall time p95", lambda t: f"{t.seconds_p95:.2f} s"),
        ("approvals asked", lambda t: _approvals(t)),
        ("Temporal actions", lambda t: f"{t.actions:,}"),
        ("history", lambda t: f"{t.history_events:,} events, {size(t.history_bytes)}"),
        ("failures", lambda t: ", ".join(f"{k} {v}" for k, v in t.failures.items()) or "none"),
    ]
    return out


def _evaluator(t: TargetSummary, *, name: str) -> str:
    found = [e for e in t.evaluators if e.name == name]
    if not found:
        return "-"
    e = found[0]
    if e.asserted:
        return f"{e.passed}/{e.asserted}"
    return f"mean {e.mean:.3f}" if e.mean is not None else "-"


def _approvals(t: TargetSummary) -> str:
    if not t.approvals:
        return "0"
    detail = ", ".join(f"{n} {d}" for d, n in sorted(t.approvals_by_decision.items()))
    return f"{t.approvals} ({detail})"


def render_text(report: EvalReport) -> str:
    """The report as a plain-text table for a terminal."""
    header = ["", *(t.target for t in report.targets)]
    table = [header, *([label, *(show(t) for t in report.targets)] for label, show in rows(report))]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        f"evaluation {report.eval_id} · dataset {report.dataset} · {report.cases} cases",
        "",
    ]
    for n, row in enumerate(table):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for t in report.targets:
        for e in t.evaluators:
            if e.failing:
                lines.append(f"{t.target} failed {e.name} on: {', '.join(e.failing)}")
        failed = [r for r in report.results if r.target == t.target and r.facts.failure]
        for r in failed:
            lines.append(f"{t.target} run {r.workflow_id} ({r.case}): {r.facts.failure}")
    lines += ["", "Verdict:", *(f"- {line}" for line in report.verdict)]
    return "\n".join(lines)
