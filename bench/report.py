"""The benchmark's results, its targets, and the markdown report."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure import HistoryStats
from bench.modes import FLOOR, LEVER_BASE, LOCAL_LLM, TETHER

# Targets from issue 10, as ratios of Tether to the hand-written floor.
LATENCY_TARGET = 0.65
CPU_TARGET = 1.1
HISTORY_TARGET = 1.1
# "Close to the size of the new messages": we read it as at most this many times as large.
GROWTH_TARGET = 1.2


@dataclass
class Cell:
    mode: str
    agent: str
    turns: int
    concurrency: int
    runs: int
    completed: int
    errors: list[str]
    median_s: float
    p95_s: float
    runs_per_s: float
    cpu_ms_per_run: float | None
    history: HistoryStats | None


@dataclass
class Growth:
    turns: int
    conversation_bytes: int
    floor_bytes: int
    tether_bytes: int


@dataclass
class Parked:
    runs: int
    parked: int
    seconds_to_park: float
    rss_before_mb: float
    rss_parked_mb: float
    kb_per_parked_run: float


@dataclass
class Target:
    name: str
    tether: float
    floor: float
    ratio: float
    limit: float
    met: bool


@dataclass
class Report:
    machine: dict[str, str]
    sizes: dict[str, object]
    cells: list[Cell]
    variants: list[Cell]
    growth: list[Growth]
    peak_rss_mb: dict[str, float]
    parked: Parked
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def all_completed(self) -> bool:
        cells = [*self.cells, *self.variants]
        return all(c.completed == c.runs for c in cells) and self.parked.parked == self.parked.runs

    def cell(self, mode: str, agent: str, concurrency: int) -> Cell:
        return next(
            c for c in self.cells if (c.mode, c.agent, c.concurrency) == (mode, agent, concurrency)
        )


def targets(report: Report) -> list[Target]:
    """Tether against the floor: latency at concurrency 1, worker CPU at the highest
    concurrency (least idle polling per run), history of the standard agent, and history
    growth per turn between the two largest turn counts against the messages added."""
    top = max(c.concurrency for c in report.cells)
    low = min(c.concurrency for c in report.cells)
    t1, f1 = report.cell(TETHER.name, "standard", low), report.cell(FLOOR.name, "standard", low)
    tn, fn = report.cell(TETHER.name, "standard", top), report.cell(FLOOR.name, "standard", top)
    assert t1.history and f1.history and tn.cpu_ms_per_run and fn.cpu_ms_per_run
    out = [
        _target(
            f"median latency, standard agent, concurrency {low}",
            t1.median_s,
            f1.median_s,
            LATENCY_TARGET,
        ),
        _target(
            f"worker CPU ms per run, concurrency {top}",
            tn.cpu_ms_per_run,
            fn.cpu_ms_per_run,
            CPU_TARGET,
        ),
        _target(
            "history bytes per run, standard agent",
            t1.history.bytes,
            f1.history.bytes,
            HISTORY_TARGET,
        ),
    ]
    local = next((v for v in report.variants if v.mode == LOCAL_LLM.name), None)
    if local is not None and low == 1:
        # Measured among the levers, a little after the floor's cell: same machine, same run.
        name = "median latency, concurrency 1, with `LlmPolicy(local_activity=True)` (opt-in)"
        out.append(_target(name, local.median_s, f1.median_s, LATENCY_TARGET))
    if len(report.growth) >= 3:
        # Every turn stores its new messages plus a fixed cost in events (task scheduled,
        # started, completed...) that the floor pays too; what must not happen is a turn
        # costing more as the conversation grows. Flat per-turn growth is a ratio of 1.
        (a, b), (c, d) = report.growth[:2], report.growth[-2:]
        early = (b.tether_bytes - a.tether_bytes) / (b.turns - a.turns)
        late = (d.tether_bytes - c.tether_bytes) / (d.turns - c.turns)
        name = (
            f"history bytes per turn, {c.turns}→{d.turns} vs {a.turns}→{b.turns} turns "
            "(≈1: grows by the new messages)"
        )
        out.append(_target(name, late, early, GROWTH_TARGET))
    return out


def _target(name: str, tether: float, floor: float, limit: float) -> Target:
    return Target(name, tether, floor, tether / floor, limit, tether / floor <= limit)


def markdown(report: Report) -> str:
    lines = [
        f"Machine: {report.machine['cpus']} CPUs, {report.machine['platform']}, Python "
        f"{report.machine['python']}, temporalio {report.machine['temporalio']}; "
        f"load average {report.machine['load_average']} at the end; "
        f"benchmark took {report.seconds:.0f} s.",
        "",
        *_header(["agent", "mode", "concurrency", *MEASURES]),
        *(_row(c) for c in report.cells),
        "",
        f"Levers, each added to `{LEVER_BASE.name}` (standard agent, concurrency 1):",
        "",
        *_header(["variant", *MEASURES]),
        *(_row(c, variant=True) for c in report.variants),
        "",
        "History growth (one run each):",
        "",
        "| turns | conversation KB | floor history KB | tether history KB |",
        "|--:|--:|--:|--:|",
        *(
            f"| {g.turns} | {g.conversation_bytes / 1024:.1f} | {g.floor_bytes / 1024:.1f} "
            f"| {g.tether_bytes / 1024:.1f} |"
            for g in report.growth
        ),
        "",
        "Where the standard agent's history goes (bytes per event kind, one run):",
        "",
        *_breakdown(report),
        "",
        "| worker memory | MB |",
        "|---|--:|",
        *(f"| peak RSS, {kind} worker | {mb:.0f} |" for kind, mb in report.peak_rss_mb.items()),
        f"| tether worker before parking | {report.parked.rss_before_mb:.0f} |",
        f"| tether worker with {report.parked.parked} of {report.parked.runs} runs parked "
        f"({report.parked.kb_per_parked_run:.0f} KB per run, parked in "
        f"{report.parked.seconds_to_park:.1f} s) | {report.parked.rss_parked_mb:.0f} |",
        "",
        "| target | tether | floor | ratio | limit | met |",
        "|---|--:|--:|--:|--:|---|",
        *(
            f"| {t.name} | {t.tether:.3g} | {t.floor:.3g} | {t.ratio:.2f} | ≤ {t.limit} | "
            f"{'yes' if t.met else 'no'} |"
            for t in report.targets
        ),
    ]
    failed = [c for c in [*report.cells, *report.variants] if c.completed < c.runs]
    lines += [""] + [
        f"**{c.mode} / {c.agent} / c={c.concurrency}: {c.runs - c.completed} runs failed**"
        f" {c.errors}"
        for c in failed
    ]
    return "\n".join(lines).rstrip() + "\n"


def _breakdown(report: Report) -> list[str]:
    low = min(c.concurrency for c in report.cells)
    floor = report.cell(FLOOR.name, "standard", low).history
    tether = report.cell(TETHER.name, "standard", low).history
    assert floor and tether
    kinds = sorted(
        {*floor.by_kind, *tether.by_kind},
        key=lambda k: -max(floor.by_kind.get(k, 0), tether.by_kind.get(k, 0)),
    )
    return [
        "| event kind | floor bytes | tether bytes |",
        "|---|--:|--:|",
        *(f"| {k} | {floor.by_kind.get(k, 0)} | {tether.by_kind.get(k, 0)} |" for k in kinds),
        f"| **total** | {floor.bytes} | {tether.bytes} |",
    ]


MEASURES = [
    "runs",
    "median s",
    "p95 s",
    "runs/s",
    "worker CPU ms/run",
    "history events",
    "history KB",
]


def _header(columns: list[str]) -> list[str]:
    """A table's header and its alignment row (text left, numbers right)."""
    align = ["---" if c in ("agent", "mode", "variant") else "--:" for c in columns]
    return ["| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"]


def _row(c: Cell, *, variant: bool = False) -> str:
    cpu = "—" if c.cpu_ms_per_run is None else f"{c.cpu_ms_per_run:.1f}"
    events = "—" if c.history is None else str(c.history.events)
    size = "—" if c.history is None else f"{c.history.bytes / 1024:.1f}"
    head = (
        f"| {c.mode} |"
        if variant
        else f"| {c.agent} ({c.turns} turns) | {c.mode} | {c.concurrency} |"
    )
    return (
        f"{head} {c.runs} | {c.median_s:.3f} | {c.p95_s:.3f} | {c.runs_per_s:.1f} | {cpu} "
        f"| {events} | {size} |"
    )
