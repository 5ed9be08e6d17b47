"""The report's charts as inline SVG, drawn here: the page fetches nothing when viewed.

Each chart is one `<svg class="chart" data-chart=NAME>`; its marks are `circle.point`
and `rect.bar` / `rect.cell` elements with a `<title>` each (a tooltip in a browser).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from tether._evals.report import EvalReport, TargetSummary

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948"]
PASS, FAIL, NONE = "#59a14f", "#e15759", "#d0d0d0"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _svg(name: str, width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT}>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def cost_vs_correctness(report: EvalReport) -> str:
    """Each target as a point: cost (or tokens, when a model has no price) across,
    correctness up."""
    width, height, left, bottom, top, right = 600, 340, 60, 50, 20, 150
    targets = report.targets
    priced = all(t.cost_usd is not None for t in targets)
    values = [(t.cost_usd or 0.0) if priced else float(t.tokens) for t in targets]
    high = max(values, default=0.0) * 1.15 or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
    ]
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - pct / 100)
        body.append(_text(left - 6, y + 4, f"{pct}%", "end"))
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
        )
    for i in range(5):
        x = left + plot_w * i / 4
        value = high * i / 4
        body.append(
            _text(x, top + plot_h + 16, f"${value:.4f}" if priced else f"{value:,.0f}", "middle")
        )
    axis = "cost (USD)" if priced else "tokens (a model has no price)"
    body.append(_text(left + plot_w / 2, height - 8, axis, "middle"))
    body.append(
        _text(
            14,
            top + plot_h / 2,
            "correct",
            "middle",
            f'transform="rotate(-90 14 {top + plot_h / 2:.1f})"',
        )
    )
    for i, (t, value) in enumerate(zip(targets, values, strict=True)):
        x = left + plot_w * value / high
        y = top + plot_h * (1 - t.accuracy)
        tip = f"{t.target}: {t.correct}/{t.runs} correct, " + (
            f"${t.cost_usd:.4f}" if priced else f"{t.tokens:,} tokens"
        )
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{color(i)}" '
            f'fill-opacity="0.85"><title>{escape(tip)}</title></circle>'
        )
        # Labels stack below one another where points meet (two targets as correct).
        body.append(_text(x + 13, y + 4 + 14 * _same_height(targets, i), t.target))
    return _svg("cost-correctness", width, height, body, "Cost against correctness")


def _same_height(targets: Sequence[TargetSummary], i: int) -> int:
    """How many targets before target `i` are exactly as correct."""
    return sum(t.accuracy == targets[i].accuracy for t in targets[:i])


def legend(report: EvalReport) -> str:
    """A swatch per target, in the charts' colours."""
    body = []
    for i, t in enumerate(report.targets):
        y = 6 + 20 * i
        body.append(f'<rect x="0" y="{y}" width="14" height="14" fill="{color(i)}"/>')
        body.append(_text(20, y + 12, f"{t.target} ({t.kind})"))
    return _svg("legend", 420, 10 + 20 * len(report.targets), body, "Targets")


def grouped_bars(
    name: str,
    title: str,
    groups: Sequence[str],
    targets: Sequence[TargetSummary],
    value: dict[tuple[str, str], float],
    *,
    unit: str = "",
    maximum: float | None = None,
) -> str:
    """Horizontal bars: a group per row label, a bar per target in it."""
    bar, gap, left, width = 16, 10, 190, 560
    plot_w = width - left - 90
    height = 20 + len(groups) * (len(targets) * bar + gap) + 10
    high = maximum or max(value.values(), default=0.0) or 1.0
    body = []
    y = 20.0
    for group in groups:
        body.append(_text(left - 8, y + bar * len(targets) / 2 + 4, group[:28], "end"))
        for i, t in enumerate(targets):
            v = value.get((group, t.target), 0.0)
            w = max(plot_w * v / high, 1.0)
            shown = f"{v:,.2f}{unit}" if v != int(v) else f"{int(v):,}{unit}"
            tip = escape(f"{t.target} · {group}: {shown}")
            body.append(
                f'<rect class="bar" x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2}" '
                f'fill="{color(i)}"><title>{tip}</title></rect>'
            )
            body.append(_text(left + w + 4, y + bar - 5, shown))
            y += bar
        y += gap
    return _svg(name, width, int(height), body, title)


def correctness_bars(report: EvalReport) -> str:
    """Each evaluator's pass rate per target, and the runs correct overall."""
    names = list(dict.fromkeys(e.name for t in report.targets for e in t.evaluators))
    value: dict[tuple[str, str], float] = {}
    for t in report.targets:
        value[("all assertions", t.target)] = 100 * t.accuracy
        for e in t.evaluators:
            if e.asserted:
                value[(e.name, t.target)] = 100 * e.passed / e.asserted
    groups = ["all assertions", *(n for n in names if any(k[0] == n for k in value))]
    return grouped_bars(
        "correctness", "Correct runs per evaluator", groups, report.targets, value, unit="%",
        maximum=100.0,
    )  # fmt: skip


def latency_bars(report: EvalReport) -> str:
    value = {}
    for t in report.targets:
        value[("p50", t.target)] = t.seconds_p50
        value[("p95", t.target)] = t.seconds_p95
    return grouped_bars(
        "latency", "Wall time per run (s)", ["p50", "p95"], report.targets, value, unit=" s"
    )


def usage_bars(report: EvalReport) -> str:
    """What a run takes on average: model calls, tokens, actions, approvals."""
    rows: dict[str, Callable[[TargetSummary], float]] = {
        "model calls / run": lambda t: t.llm_calls,
        "tokens / run": lambda t: t.tokens,
        "Temporal actions / run": lambda t: t.actions,
        "approvals / run": lambda t: t.approvals,
        "history KiB / run": lambda t: t.history_bytes / 1024,
    }
    charts = []
    for label, figure in rows.items():
        value = {(label, t.target): figure(t) / max(t.runs, 1) for t in report.targets}
        slug = label.split(" /")[0].replace(" ", "-").lower()
        charts.append(grouped_bars(f"usage-{slug}", label, [label], report.targets, value))
    return "".join(charts)


def case_grid(report: EvalReport) -> str:
    """A cell per case and target: green where the run passed, red where it did not."""
    cases = list(dict.fromkeys(r.case for r in report.results))
    targets = [t.target for t in report.targets]
    cell, left, top = 14, 150, 24
    width = left + len(cases) * cell + 20
    height = top + len(targets) * (cell + 4) + 10
    passed = {(r.case, r.target): r.passed for r in report.results}
    body = [_text(left, 14, "cases →")]
    for row, target in enumerate(targets):
        y = top + row * (cell + 4)
        body.append(_text(left - 8, y + cell - 3, target[:22], "end"))
        for col, case in enumerate(cases):
            ok = passed.get((case, target))
            fill = NONE if ok is None else PASS if ok else FAIL
            state = "not run" if ok is None else "passed" if ok else "failed"
            body.append(
                f'<rect class="cell" x="{left + col * cell}" y="{y}" width="{cell - 2}" '
                f'height="{cell}" fill="{fill}"><title>{escape(f"{case} · {target}: {state}")}'
                "</title></rect>"
            )
    return _svg("cases", max(width, 300), height, body, "Every case, passed or failed")
