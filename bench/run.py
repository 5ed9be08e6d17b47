"""The benchmark: `python -m bench.run [--tiny] [--json] [--runs N] ...`.

Starts everything it needs on loopback: a Temporal dev server (the installed `temporal`
binary, free ports, a temp database, Tether's search attributes), the scripted model
server (in this process, with `--llm-latency` per reply), and one worker subprocess per
kind (see `bench.worker`). Then it runs the standard and the long agent as plain asyncio,
as the hand-written floor workflow and as Tether, prices Tether's extras one at a time on
the floor, measures history growth with turns and the worker's memory with runs parked
on a 24 h timer, and prints a markdown report (or JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from bench.agents import PARK, PARK_PROMPT, STANDARD_TURNS, responder
from bench.fleet import fleet, table
from bench.measure import HistoryStats, history_stats, median, percentile, proc_stats
from bench.modes import FLOOR, MAIN_MODES, TETHER, VARIANTS, Mode, Runner
from bench.report import SLOW_MODEL, Cell, Growth, Parked, Report, markdown, targets
from bench.worker import KINDS, READY
from tether._process import stdout_to_stderr, stop
from tether._run_io import INPUT_GENERATION, AgentInput
from tether._temporal import TETHER_CONVERTER
from tether._visibility import SEARCH_KEYS
from tether.testing import ScriptedLLM
from tether.workflow import AgentWorkflow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 300.0  # one run, however long; a stuck run fails its cell, not the bench
START_TIMEOUT_S = 60.0
PARK_TIMEOUT_S = 120.0  # plus PARK_S_PER_RUN per run: 1,000 runs took over 300 s on busy cores
PARK_S_PER_RUN = 1.0
HISTORY_SAMPLES = 3  # histories fetched per cell (runs of a cell are identical)
START_CONCURRENCY = 50  # parked runs started / terminated at once


@dataclass(frozen=True)
class Sizes:
    runs: int = 10
    long_runs: int = 3
    concurrency: list[int] = field(default_factory=lambda: [1, 20, 200])
    # 200 long runs are 20,000 activities per mode: about 20 min each on 2 busy cores.
    long_concurrency: list[int] = field(default_factory=lambda: [1, 20])
    turns: list[int] = field(default_factory=lambda: [5, 10, 25, 50])
    parked: int = 1000
    llm_latency: float = 0.0
    # Runs per worker before measuring: imports, sandbox and connections are not per-run.
    warmup: int = 2
    # A realistic model: the standard agent again at concurrency 1, each call this slow.
    slow_model_ms: int = 200


TINY = Sizes(
    runs=1,
    long_runs=1,
    concurrency=[1, 2],
    long_concurrency=[2],
    turns=[2, 4, 6],
    parked=5,
    warmup=1,
)


@dataclass
class Env:
    client: Client
    llm: ScriptedLLM
    runner: Runner
    pids: dict[str, int]


@dataclass
class Batch:
    """Some runs of one mode: what each took, and the batch's wall and worker CPU time."""

    ids: list[str]
    latencies: list[float]
    outcomes: list[bool | BaseException]
    wall_s: float
    cpu_s: float | None


async def run_batch(
    env: Env, mode: Mode, turns: int, concurrency: int, runs: int, latency_ms: int = 0
) -> Batch:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    ids = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(runs)]

    async def one(run_id: str) -> bool:
        async with gate:
            start = time.perf_counter()
            done = await asyncio.wait_for(
                env.runner.run(mode, turns, run_id, latency_ms), RUN_TIMEOUT_S
            )
            latencies.append(time.perf_counter() - start)
            return done

    pid = env.pids.get(mode.process or "")
    cpu_before = proc_stats(pid).cpu_s if pid else 0.0
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
    wall = time.perf_counter() - start
    cpu = proc_stats(pid).cpu_s - cpu_before if pid else None
    return Batch(ids, latencies, outcomes, wall, cpu)


async def run_cells(
    env: Env,
    modes: list[Mode],
    agent: str,
    turns: int,
    concurrency: int,
    runs: int,
    latency_ms: int = 0,
) -> list[Cell]:
    """`runs` runs of each mode, `concurrency` at a time: latency, throughput, worker CPU
    (over the batches, divided by runs) and history size. At concurrency 1 the modes
    take turns run by run, so a change in the machine's load falls on all of them alike
    (their ratios are what the targets compare)."""
    rounds = runs if concurrency == 1 else 1
    batches: dict[str, list[Batch]] = {mode.name: [] for mode in modes}
    for r in range(rounds):
        share = runs // rounds + (1 if r < runs % rounds else 0)
        for mode in modes:
            batch = await run_batch(env, mode, turns, concurrency, share, latency_ms)
            batches[mode.name].append(batch)
    return [await _cell(env, mode, agent, turns, concurrency, batches[mode.name]) for mode in modes]


async def run_cell(
    env: Env, mode: Mode, agent: str, turns: int, concurrency: int, runs: int
) -> Cell:
    (cell,) = await run_cells(env, [mode], agent, turns, concurrency, runs)
    return cell


async def _cell(
    env: Env, mode: Mode, agent: str, turns: int, concurrency: int, batches: list[Batch]
) -> Cell:
    ids = [i for b in batches for i in b.ids]
    latencies = [t for b in batches for t in b.latencies]
    outcomes = [o for b in batches for o in b.outcomes]
    cpus = [b.cpu_s for b in batches if b.cpu_s is not None]
    runs = len(ids)
    history = await _history(env.client, ids[:HISTORY_SAMPLES]) if mode.process else None
    return Cell(
        mode=mode.name,
        agent=agent,
        turns=turns,
        concurrency=concurrency,
        runs=runs,
        completed=sum(1 for o in outcomes if o is True),
        errors=sorted({repr(o)[:200] for o in outcomes if isinstance(o, BaseException)}),
        median_s=median(latencies) if latencies else math.nan,
        p95_s=percentile(latencies, 0.95) if latencies else math.nan,
        runs_per_s=runs / sum(b.wall_s for b in batches),
        cpu_ms_per_run=1000 * sum(cpus) / runs if cpus else None,
        history=history,
    )


async def _history(client: Client, ids: list[str]) -> HistoryStats:
    """The mean history of the given runs, with the first run's breakdown by kind."""
    stats = [await history_stats(client, i) for i in ids]
    return HistoryStats(
        events=round(sum(s.events for s in stats) / len(stats)),
        bytes=round(sum(s.bytes for s in stats) / len(stats)),
        actions=round(sum(s.actions for s in stats) / len(stats)),
        by_kind=stats[0].by_kind,
    )


async def growth(env: Env, turns: list[int]) -> list[Growth]:
    """History bytes of one run per turn count, next to the conversation's own size."""
    rows = []
    for t in turns:
        conversation = await env.runner.conversation(t)
        sizes = {}
        for mode in (FLOOR, TETHER):
            cell = await run_cell(env, mode, "growth", t, 1, 1)
            sizes[mode.name] = cell.history.bytes if cell.history and cell.completed else 0
        rows.append(
            Growth(
                turns=t,
                conversation_bytes=len(json.dumps(conversation)),
                floor_bytes=sizes[FLOOR.name],
                tether_bytes=sizes[TETHER.name],
            )
        )
    return rows


async def park(env: Env, count: int) -> Parked:
    """Start `count` Tether runs whose model waits 24 h, measure the worker's memory
    once every one sits on its timer, then terminate them."""
    pid = env.pids["tether"]
    before = proc_stats(pid)
    requests = env.llm.request_count
    queue = env.runner.queues["tether"]
    gate = asyncio.Semaphore(START_CONCURRENCY)
    start = time.perf_counter()

    async def start_one(i: int) -> WorkflowHandle[AgentWorkflow, object]:
        async with gate:
            return await env.client.start_workflow(
                AgentWorkflow.run,
                AgentInput(agent=PARK.name, prompt=PARK_PROMPT, generation=INPUT_GENERATION),
                id=f"bench-park-{uuid.uuid4().hex[:10]}",
                task_queue=queue,
            )

    handles = await asyncio.gather(*(start_one(i) for i in range(count)))
    waiting = list(handles)
    deadline = time.monotonic() + PARK_TIMEOUT_S + PARK_S_PER_RUN * count
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if env.llm.request_count - requests < count:
            continue  # not every run has had its model call yet
        parked = await asyncio.gather(*(_on_timer(h, gate) for h in waiting))
        waiting = [h for h, p in zip(waiting, parked, strict=True) if not p]
    seconds = time.perf_counter() - start
    after = proc_stats(pid)

    async def terminate(handle: WorkflowHandle[AgentWorkflow, object]) -> None:
        async with gate:
            await handle.terminate("benchmark done")

    await asyncio.gather(*(terminate(h) for h in handles))
    return Parked(
        runs=count,
        parked=count - len(waiting),
        seconds_to_park=seconds,
        rss_before_mb=before.rss_kb / 1024,
        rss_parked_mb=after.rss_kb / 1024,
        kb_per_parked_run=(after.rss_kb - before.rss_kb) / count,
    )


async def _on_timer(handle: WorkflowHandle[AgentWorkflow, object], gate: asyncio.Semaphore) -> bool:
    async with gate:
        history = await handle.fetch_history()
    return any(e.HasField("timer_started_event_attributes") for e in history.events)


@contextmanager
def worker_processes(
    address: str, queues: dict[str, str], llm_url: str, logs: Path
) -> Iterator[dict[str, int]]:
    """Start one `bench.worker` per kind, all at once; wait until each polls."""
    with ExitStack() as stack:
        procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for kind, queue in queues.items():
            log = logs / f"worker-{kind}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.worker", kind, address, queue, llm_url],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            stack.callback(stop, proc)
            procs[kind] = (proc, log)
        deadline = time.monotonic() + START_TIMEOUT_S
        for kind, (proc, log) in procs.items():
            while READY.encode() not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the {kind} bench worker did not start:\n{tail}")
                time.sleep(0.1)
        yield {kind: proc.pid for kind, (proc, _) in procs.items()}


@asynccontextmanager
async def dev_server(tmp: Path) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server on free loopback ports, its database in `tmp`, with Tether's
    search attributes."""
    temporal = BIN / "temporal"
    with stdout_to_stderr():
        server = await WorkflowEnvironment.start_local(
            data_converter=TETHER_CONVERTER,
            dev_server_existing_path=str(temporal) if temporal.exists() else "temporal",
            dev_server_database_filename=str(tmp / "temporal.db"),
            search_attributes=SEARCH_KEYS,
        )
    async with server:
        yield server


@asynccontextmanager
async def environment(sizes: Sizes) -> AsyncIterator[Env]:
    with (
        tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp,
        ScriptedLLM(responder(sizes.llm_latency)) as llm,
    ):
        async with dev_server(Path(tmp)) as server:
            client = server.client
            address = client.service_client.config.target_host
            queues = {kind: f"bench-{kind}-{uuid.uuid4().hex[:8]}" for kind in KINDS}
            runner = Runner(client, llm.base_url, queues)
            try:
                with worker_processes(address, queues, llm.base_url, Path(tmp)) as pids:
                    yield Env(client, llm, runner, pids)
            finally:
                await runner.close()


async def bench(sizes: Sizes, command: str = "python -m bench.run") -> Report:
    started = time.perf_counter()
    load = machine()["load_average"]
    async with environment(sizes) as env:
        # One mode per worker process (and the plain loop) warms up before anything counts.
        warm = {mode.process: mode for mode in reversed([*MAIN_MODES, *VARIANTS])}
        for mode in warm.values():
            await run_cell(env, mode, "warm-up", STANDARD_TURNS, 1, sizes.warmup)
        long_turns = max(sizes.turns)
        cells = []
        for agent, turns, runs, levels in (
            ("standard", STANDARD_TURNS, sizes.runs, sizes.concurrency),
            ("long", long_turns, sizes.long_runs, sizes.long_concurrency),
        ):
            for concurrency in levels:
                runs_here = max(runs, concurrency)
                cells += await run_cells(env, MAIN_MODES, agent, turns, concurrency, runs_here)
        peak = {kind: proc_stats(pid).peak_rss_kb / 1024 for kind, pid in env.pids.items()}
        variants = await run_cells(env, VARIANTS, "standard", STANDARD_TURNS, 1, sizes.runs)
        slow = await run_cells(
            env, MAIN_MODES, SLOW_MODEL, STANDARD_TURNS, 1, sizes.runs, sizes.slow_model_ms
        )
        rows = await growth(env, sorted(sizes.turns))
        parked = await park(env, sizes.parked)
    report = Report(
        machine=machine(),
        sizes=asdict(sizes),
        cells=cells,
        variants=variants,
        slow_model=slow,
        growth=rows,
        peak_rss_mb=peak,
        parked=parked,
        targets=[],
        seconds=time.perf_counter() - started,
        command=command,
        load_at_start=load,
    )
    report.targets = targets(report)
    return report


def machine() -> dict[str, str]:
    import temporalio

    return {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": getattr(temporalio, "__version__", "?"),
        "processor": platform.processor() or platform.machine(),
        # Other work on the machine shows in every latency; say how much there was.
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive whole numbers like 1,20,200, got {text!r}"
        )
    return values


def parse(argv: list[str]) -> tuple[Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    default = Sizes()
    parser.add_argument("--tiny", action="store_true", help=f"a quick run for CI: {TINY}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--save", type=Path, help="also write the JSON report to this file")
    parser.add_argument(
        "--runs", type=int, help=f"runs per standard-agent cell (default {default.runs})"
    )
    parser.add_argument(
        "--long-runs", type=int, help=f"runs per long-agent cell (default {default.long_runs})"
    )
    parser.add_argument("--concurrency", type=_ints, help="runs in flight, e.g. 1,20,200")
    parser.add_argument("--long-concurrency", type=_ints, help="the same for the long agent")
    parser.add_argument(
        "--turns", type=_ints, help="turns for history growth; the largest is the long agent's"
    )
    parser.add_argument(
        "--parked", type=int, help=f"runs parked on a timer (default {default.parked})"
    )
    parser.add_argument(
        "--llm-latency", type=float, help="seconds the model takes per reply (default 0)"
    )
    parser.add_argument(
        "--slow-model-ms",
        type=int,
        help=f"model latency of the realistic-model cells, in ms (default {default.slow_model_ms})",
    )
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="instead: the bytes 1 and 3 workers read back from history (bench/fleet.py), "
        "for --turns (default 5,10,20,40) and --runs runs each (default 3)",
    )
    args = parser.parse_args(argv)
    base = TINY if args.tiny else default
    given = {
        "runs": args.runs,
        "long_runs": args.long_runs,
        "concurrency": args.concurrency,
        "long_concurrency": args.long_concurrency,
        "turns": args.turns,
        "parked": args.parked,
        "llm_latency": args.llm_latency,
        "slow_model_ms": args.slow_model_ms,
    }
    sizes = Sizes(**{**asdict(base), **{k: v for k, v in given.items() if v is not None}})
    if min(sizes.runs, sizes.long_runs, sizes.parked) < 1 or sizes.llm_latency < 0:
        parser.error("--runs, --long-runs and --parked must be at least 1, --llm-latency >= 0")
    if sizes.slow_model_ms < 1:
        parser.error("--slow-model-ms must be at least 1")
    return sizes, args


def main(argv: list[str]) -> int:
    sizes, args = parse(argv)
    if args.fleet:
        turns = args.turns or ([2, 4] if args.tiny else [5, 10, 20, 40])
        rows = asyncio.run(fleet(turns, [1, 3], args.runs or (1 if args.tiny else 3)))
        print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else table(rows))
        return 0
    report = asyncio.run(bench(sizes, " ".join(["python -m bench.run", *argv])))
    as_json = json.dumps(asdict(report), indent=2)
    if args.save:
        args.save.write_text(as_json + "\n")
    print(as_json if args.json else markdown(report))
    return 0 if report.all_completed else 1


if __name__ == "__main__":
    from tether._process import exit_now

    exit_now(main(sys.argv[1:]))
