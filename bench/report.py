"""The benchmark's results, its targets, and the markdown report."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure import HistoryStats
from bench.modes import FLOOR, PLAIN, TETHER

# Targets from issue 22, as ratios of Tether's default to the hand-written floor (the
# last to the plain loop), each measured in the same run.
LATENCY_TARGET = 0.6
CPU_TARGET = 1.0
HISTORY_TARGET = 1.0
ACTIONS_TARGET = 1.0
THROUGHPUT_TARGET = 1.3  # at least
THROUGHPUT_CONCURRENCY = 20
SLOW_MODEL_TARGET = 1.10
# "Close to the size of the new messages": we read it as at most this many times as large.
GROWTH_TARGET = 1.2
SLOW_MODEL = "standard, slow model"


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
    at_least: bool = False  # the ratio must reach the limit, not stay under it


@dataclass
class Report:
    machine: dict[str, str]
    sizes: dict[str, object]
    cells: list[Cell]
    variants: list[Cell]
    slow_model: list[Cell]
    growth: list[Growth]
    peak_rss_mb: dict[str, float]
    parked: Parked
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0
    command: str = ""
    load_at_start: str = ""

    @property
    def all_completed(self) -> bool:
        cells = [*self.cells, *self.variants, *self.slow_model]
        return all(c.completed == c.runs for c in cells) and self.parked.parked == self.parked.runs

    def cell(self, mode: str, agent: str, concurrency: int) -> Cell:
        return next(
            c for c in self.cells if (c.mode, c.agent, c.concurrency) == (mode, agent, concurrency)
        )


def targets(report: Report) -> list[Target]:
    """Tether's default against the floor: latency at the lowest concurrency, worker
    CPU at the highest (least idle polling per run), history bytes and billable actions
    of the standard agent, throughput at 20 runs in flight (or the nearest level), the
    realistic model's latency against the plain loop, and history growth per turn
    between the two largest turn counts against the messages added."""
    levels = sorted({c.concurrency for c in report.cells})
    low, top = levels[0], levels[-1]
    busy = min(levels, key=lambda c: abs(c - THROUGHPUT_CONCURRENCY))
    t1, f1 = report.cell(TETHER.name, "standard", low), report.cell(FLOOR.name, "standard", low)
    tn, fn = report.cell(TETHER.name, "standard", top), report.cell(FLOOR.name, "standard", top)
    tb, fb = report.cell(TETHER.name, "standard", busy), report.cell(FLOOR.name, "standard", busy)
    assert t1.history and f1.history and tn.cpu_ms_per_run and fn.cpu_ms_per_run
    slow = {c.mode: c for c in report.slow_model}
    out = [
        _target(f"median latency, concurrency {low}", t1.median_s, f1.median_s, LATENCY_TARGET),
        _target(
            f"worker CPU ms per run, concurrency {top}",
            tn.cpu_ms_per_run,
            fn.cpu_ms_per_run,
            CPU_TARGET,
        ),
        _target("history bytes per run", t1.history.bytes, f1.history.bytes, HISTORY_TARGET),
        _target("billable actions per run", t1.history.actions, f1.history.actions, ACTIONS_TARGET),
        _target(
            f"throughput, runs/s at concurrency {busy}",
            tb.runs_per_s,
            fb.runs_per_s,
            THROUGHPUT_TARGET,
            at_least=True,
        ),
        _target(
            f"median latency with a {report.sizes['slow_model_ms']} ms model, against the "
            "plain asyncio loop",
            slow[TETHER.name].median_s,
            slow[PLAIN.name].median_s,
            SLOW_MODEL_TARGET,
        ),
    ]
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


def _target(
    name: str, tether: float, floor: float, limit: float, *, at_least: bool = False
) -> Target:
    ratio = tether / floor
    met = ratio >= limit if at_least else ratio <= limit
    return Target(name, tether, floor, ratio, limit, met, at_least)


def markdown(report: Report) -> str:
    lines = [
        f"`{report.command}` on {report.machine['cpus']} CPUs, "
        f"{report.machine['platform']}, Python {report.machine['python']}, temporalio "
        f"{report.machine['temporalio']}; load average {report.load_at_start} at the start, "
        f"{report.machine['load_average']} at the end; benchmark took {report.seconds:.0f} s.",
        "",
        *_header(["agent", "mode", "concurrency", *MEASURES]),
        *(_row(c) for c in report.cells),
        "",
        "Levers: Tether's extras, each added to the floor alone, and Tether's opt-ins "
        "(standard agent, concurrency 1):",
        "",
        *_header(["variant", *MEASURES]),
        *(_row(c, variant=True) for c in report.variants),
        "",
        f"With a {report.sizes['slow_model_ms']} ms model (standard agent, concurrency 1):",
        "",
        *_header(["mode", *MEASURES]),
        *(_row(c, variant=True) for c in report.slow_model),
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
            f"| {t.name} | {t.tether:.3g} | {t.floor:.3g} | {t.ratio:.2f} | "
            f"{'≥' if t.at_least else '≤'} {t.limit} | {'yes' if t.met else 'no'} |"
            for t in report.targets
        ),
    ]
    cells = [*report.cells, *report.variants, *report.slow_model]
    failed = [c for c in cells if c.completed < c.runs]
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
    "actions",
]


def _header(columns: list[str]) -> list[str]:
    """A table's header and its alignment row (text left, numbers right)."""
    align = ["---" if c in ("agent", "mode", "variant") else "--:" for c in columns]
    return ["| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"]


def _row(c: Cell, *, variant: bool = False) -> str:
    cpu = "—" if c.cpu_ms_per_run is None else f"{c.cpu_ms_per_run:.1f}"
    events = "—" if c.history is None else str(c.history.events)
    size = "—" if c.history is None else f"{c.history.bytes / 1024:.1f}"
    actions = "—" if c.history is None else str(c.history.actions)
    head = (
        f"| {c.mode} |"
        if variant
        else f"| {c.agent} ({c.turns} turns) | {c.mode} | {c.concurrency} |"
    )
    return (
        f"{head} {c.runs} | {c.median_s:.3f} | {c.p95_s:.3f} | {c.runs_per_s:.1f} | {cpu} "
        f"| {events} | {size} | {actions} |"
    )
