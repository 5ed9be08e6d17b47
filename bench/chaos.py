"""Chaos benchmark: how many N-step agent runs finish when every model call may fail.

    .venv/bin/python -m bench.chaos [--runs 200] [--steps 20] [--p 0.05] [--seed 1] [--json]

The agent makes `--steps` model calls: each but the last asks for `record_step`, a
side-effecting tool that writes one row per idempotency key; the last one answers. A
scripted OpenAI-compatible server on loopback answers each call with a 500 with
probability `--p` (seeded; each path gets its own server with the same seed). Three
paths run the same runs concurrently:

- `plain`: an in-process loop over the `openai` client (`max_retries=0`), no durability:
  a failed call ends the run;
- `plain, rerun`: the same loop, each failed run started over (up to 10 tries), which
  is what durability is usually replaced with;
- `tether`: the agent as Temporal workflows on a local dev server (from the installed
  `temporal` binary), every call an activity that Temporal retries.

Reported per path: runs completed, model calls made and how many of them went beyond
`steps` per completed run (paid for nothing), duplicate side effects (a second row for a
run's step), and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openai
from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, Budgets, LlmSettings, Tool, ToolContext, tool
from tether import _logs as logs
from tether._process import exit_now, stdout_to_stderr
from tether._run_io import INPUT_GENERATION, AgentInput
from tether._temporal import TETHER_CONVERTER
from tether.testing import OFFLINE_MODEL, Chaos, Responder, ScriptedLLM, call_tools, say
from tether.worker import create_worker
from tether.workflow import AgentWorkflow

# Every run of the tether path ends within this: the default 200 took 601 s (README).
RUNS_TIMEOUT_S, RUNS_TIMEOUT_S_PER_RUN = 60.0, 10.0

TASK = "Work through the task: record every step with record_step, one at a time."
RERUN_TRIES = 10


@dataclass
class PathResult:
    path: str
    runs: int
    completed: int
    model_calls: int
    extra_calls: int
    duplicate_side_effects: int
    wall_seconds: float


def steps_responder(steps: int) -> Responder:
    """The model: asks for the next step until `steps - 1` are recorded, then answers."""

    def respond(messages: list[dict[str, Any]]) -> Any:
        done = sum(m.get("role") == "tool" for m in messages)
        if done < steps - 1:
            return call_tools(("record_step", {"step": done + 1}))
        return say(f"All {done} steps are recorded.")

    return respond


def step_recorder(db: Path) -> Tool:
    """The `record_step` tool over its own SQLite file: one row per idempotency key, so a
    row more for the same run and step is a duplicate side effect."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS effects"
            " (run TEXT NOT NULL, step INTEGER NOT NULL, idempotency_key TEXT NOT NULL UNIQUE)"
        )

    @tool(side_effects=True)
    def record_step(ctx: ToolContext, step: int) -> str:
        """Record that a step of the task is done."""
        with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
            conn.execute(
                "INSERT INTO effects VALUES (?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                (ctx.workflow_id, step, ctx.idempotency_key),
            )
        return f"step {step} recorded"

    return record_step


def duplicates(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(n - 1), 0) FROM"
            " (SELECT COUNT(*) AS n FROM effects GROUP BY run, step)"
        ).fetchone()
    return int(row[0])


async def plain_run(client: AsyncOpenAI, run_id: str, steps: int, record: Tool) -> bool:
    """One run of a plain agent loop; False when a model call failed."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": TASK}]
    for turn in range(1, steps + 1):
        try:
            reply = await client.chat.completions.create(
                model=OFFLINE_MODEL,
                messages=messages,  # type: ignore[arg-type]
                tools=[record.openai_schema()],  # type: ignore[list-item]
            )
        except openai.APIError:
            return False
        message = reply.choices[0].message
        if not message.tool_calls:
            return True
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            assert call.type == "function"
            # Tether's key scheme; a rerun gets new call ids, so nothing dedupes it.
            key = f"{run_id}:{turn}:{call.id}"
            ctx = ToolContext(idempotency_key=key, workflow_id=run_id, tool_call_id=call.id)
            outcome = await record.invoke(call.function.arguments, ctx)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": outcome.content})
    return False


async def plain_path(
    name: str, *, runs: int, steps: int, p: float, seed: int, db: Path, tries: int
) -> PathResult:
    record = step_recorder(db)
    with ScriptedLLM(steps_responder(steps), chaos=Chaos(p, seed=seed)) as llm:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="bench", max_retries=0)

        async def run(i: int) -> bool:
            for _ in range(tries):
                if await plain_run(client, f"{name}-{i}", steps, record):
                    return True
            return False

        started = time.monotonic()
        done = await asyncio.gather(*(run(i) for i in range(runs)))
        wall = time.monotonic() - started
        await client.close()
    return _result(name, runs, sum(done), steps, llm, db, wall)


async def tether_path(
    client: Client, *, runs: int, steps: int, p: float, seed: int, db: Path
) -> PathResult:
    agent = Agent(
        name="chaos-steps",
        instructions=TASK,
        tools=[step_recorder(db)],
        budgets=Budgets(max_turns=steps),
    )
    queue = f"chaos-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(steps_responder(steps), chaos=Chaos(p, seed=seed)) as llm:
        settings = LlmSettings(
            base_url=llm.base_url, api_key="bench", model=OFFLINE_MODEL, offline=False
        )
        worker = create_worker(client, AgentRegistry([agent]), llm=settings, queue=queue)
        async with worker:
            started = time.monotonic()
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        AgentWorkflow.run,
                        AgentInput(agent=agent.name, prompt=TASK, generation=INPUT_GENERATION),
                        id=f"{queue}-{i}",
                        task_queue=queue,
                    )
                    for i in range(runs)
                )
            )
            # Temporal retries a failed call for as long as it takes: a run that never
            # ends (a bug, a dead server) stops the bench with a timeout, not a hang.
            results = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)),
                RUNS_TIMEOUT_S + RUNS_TIMEOUT_S_PER_RUN * runs,
            )
            wall = time.monotonic() - started
    completed = sum(r.status == "completed" for r in results)
    return _result("tether", runs, completed, steps, llm, db, wall)


def _result(
    path: str, runs: int, completed: int, steps: int, llm: ScriptedLLM, db: Path, wall: float
) -> PathResult:
    calls = llm.request_count
    return PathResult(
        path=path,
        runs=runs,
        completed=completed,
        model_calls=calls,
        extra_calls=calls - steps * completed,
        duplicate_side_effects=duplicates(db),
        wall_seconds=round(wall, 2),
    )


async def bench(
    client: Client, *, runs: int, steps: int, p: float, seed: int, workdir: Path
) -> list[PathResult]:
    """The three paths, one after the other, each with its own database under `workdir`."""
    common: dict[str, Any] = {"runs": runs, "steps": steps, "p": p, "seed": seed}
    return [
        await plain_path("plain", db=workdir / "plain.db", tries=1, **common),
        await plain_path("plain, rerun", db=workdir / "rerun.db", tries=RERUN_TRIES, **common),
        await tether_path(client, db=workdir / "tether.db", **common),
    ]


def table(results: list[PathResult], steps: int) -> str:
    lines = [
        f"| path | completed | model calls | beyond {steps} per completed run "
        "| duplicate side effects | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.path} | {r.completed}/{r.runs} ({r.completed / r.runs:.0%}) "
            f"| {r.model_calls} | {r.extra_calls} | {r.duplicate_side_effects} "
            f"| {r.wall_seconds:.1f} s |"
        )
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20, help="model calls per run")
    parser.add_argument("--p", type=float, default=0.05, help="failure rate per model call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    # Every injected failure would log a retried activity's traceback.
    logs.configure("ERROR")
    if args.runs < 1 or args.steps < 1 or not 0 <= args.p < 1:
        parser.error("need --runs >= 1, --steps >= 1 and 0 <= --p < 1")
    temporal = Path(sys.executable).parent / "temporal"
    if not temporal.exists():
        parser.error(f"{temporal} not found: install the project with `python3 dev.py setup`")
    # The SDK core logs to stdout unless told otherwise; through `logging` it goes to
    # stderr, at the level set above.
    core_logs = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    runtime = Runtime(
        telemetry=TelemetryConfig(logging=LoggingConfig(filter="WARN", forwarding=core_logs))
    )
    with stdout_to_stderr():
        env = await WorkflowEnvironment.start_local(
            data_converter=TETHER_CONVERTER,
            dev_server_existing_path=str(temporal),
            runtime=runtime,
        )
    async with env:
        with tempfile.TemporaryDirectory() as workdir:
            results = await bench(
                env.client,
                runs=args.runs,
                steps=args.steps,
                p=args.p,
                seed=args.seed,
                workdir=Path(workdir),
            )
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(f"{args.runs} runs x {args.steps} model calls, p={args.p}, seed={args.seed}\n")
        print(table(results, args.steps))
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
