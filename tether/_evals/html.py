"""The report as one self-contained HTML page: the verdict, the charts (inline SVG), the
side-by-side table and every run. No script, no stylesheet or font fetched: it opens
the same from a file, an artifact store or an email."""

from __future__ import annotations

from html import escape

from tether._evals.charts import (
    FAIL,
    PASS,
    case_grid,
    correctness_bars,
    cost_vs_correctness,
    latency_bars,
    legend,
    usage_bars,
)
from tether._evals.report import EvalReport
from tether._evals.text import rows

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #666; }
.verdict { background: #f6f8fa; border-left: 4px solid #4e79a7; padding: .6rem 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0 0 1rem 0; } figcaption { font-weight: 600; margin-bottom: .3rem; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .3rem .7rem; text-align: right;
         vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; max-width: 420px; overflow-wrap: anywhere; }
.pass { color: PASS; } .fail { color: FAIL; font-weight: 600; }
""".replace("PASS", PASS).replace("FAIL", FAIL)


def render_html(report: EvalReport) -> str:
    """The report as a self-contained HTML page with its charts."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evaluation {escape(report.eval_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Evaluation of {escape(report.dataset)}</h1>",
        f"<p class='meta'>{escape(report.eval_id)} · {report.cases} cases · "
        f"{len(report.targets)} targets: {escape(', '.join(t.target for t in report.targets))}</p>",
        "<h2>Verdict</h2><div class='verdict'><ul>",
        *(f"<li>{escape(line)}</li>" for line in report.verdict),
        "</ul></div>",
        "<h2>Charts</h2>",
        legend(report),
        "<div class='charts'>",
        _figure("Cost against correctness", cost_vs_correctness(report)),
        _figure("Correct runs per evaluator", correctness_bars(report)),
        _figure("Wall time per run", latency_bars(report)),
        _figure("Per run, on average", usage_bars(report)),
        "</div>",
        _figure("Every case", case_grid(report)),
        "<h2>Side by side</h2>",
        _summary_table(report),
        _failing(report),
        "<h2>Runs</h2>",
        _runs_table(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def _summary_table(report: EvalReport) -> str:
    head = "".join(f"<th>{escape(t.target)}</th>" for t in report.targets)
    body = []
    for label, show in rows(report):
        cells = "".join(f"<td>{escape(show(t))}</td>" for t in report.targets)
        body.append(f"<tr><td>{escape(label.strip())}</td>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def _failing(report: EvalReport) -> str:
    items = []
    for t in report.targets:
        for e in t.evaluators:
            if e.failing:
                items.append(
                    f"<li>{escape(t.target)} failed <b>{escape(e.name)}</b> on "
                    f"{escape(', '.join(e.failing))}</li>"
                )
    if not items:
        return ""
    return "<h2>Failing cases</h2><ul>" + "".join(items) + "</ul>"


def _runs_table(report: EvalReport) -> str:
    head = (
        "<tr><th>case</th><th>target</th><th>result</th><th>status</th><th>calls</th>"
        "<th>tokens</th><th>seconds</th><th>approvals</th><th>scores</th><th>workflow id</th></tr>"
    )
    body = []
    for r in report.results:
        mark = "<span class='pass'>pass</span>" if r.passed else "<span class='fail'>fail</span>"
        scores = "; ".join(
            f"{s.evaluator}: {s.error or s.value}" + (f" ({s.reason})" if s.reason else "")
            for s in r.scores
        )
        decisions = ", ".join("approved" if a.approve else "rejected" for a in r.facts.approvals)
        body.append(
            f"<tr><td>{escape(r.case)}</td><td>{escape(r.target)}</td><td>{mark}</td>"
            f"<td>{escape(r.facts.failure or r.facts.status)}</td><td>{r.facts.llm_calls}</td>"
            f"<td>{r.facts.usage.total_tokens:,}</td><td>{r.facts.seconds:.2f}</td>"
            f"<td>{escape(decisions or '-')}</td><td class='text'>{escape(scores)}</td>"
            f"<td class='text'>{escape(r.workflow_id)}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"
