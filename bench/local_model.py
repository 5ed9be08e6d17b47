"""Runs at once against the bundled one-slot llama.cpp model: `python -m bench.local_model`.

Starts a Temporal dev server and the bundled SmolLM2-135M (llama.cpp, one slot) on
loopback, a worker for one agent, and `--runs` runs of the same prompt at once. Prints,
per run, how long it took, how many attempts its model call needed and why the earlier
ones failed, and how long the call waited before a worker started it (queued in
Temporal); and the machine's load before and after (the machine may be shared).

    python -m bench.local_model --runs 6                    # the worker's defaults
    python -m bench.local_model --runs 6 --llm-slots 1      # TETHER_MAX_CONCURRENT_LLM_CALLS=1
    python -m bench.local_model --max-tokens 300 --json

Only public names are used, so the same script measures an older Tether too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError

from tether import Agent, AgentRun, LlmPolicy, LlmSettings

try:
    from tether.worker import WorkerTuning
except ImportError:  # a Tether before its public submodules
    from tether import WorkerTuning
from tether.testing import MODEL_ALIAS, dev_server, llama_server, worker

PROMPT = "Tell me a long story about a dragon who guards a library."
RUN_TIMEOUT_S = 1800.0


@dataclass
class RunTimes:
    """One run as its history tells it."""

    seconds: float
    status: str
    attempts: int
    last_failure: str
    queued_seconds: float
    completion_tokens: int


async def one_run(client: Client, queue: str, agent: str) -> tuple[AgentRun, float]:
    """The run, and how long it took to end (completed or not)."""
    started = time.monotonic()
    run = await AgentRun.start(
        client, agent, PROMPT, id=f"local-{uuid.uuid4().hex[:8]}", task_queue=queue
    )
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(run.result(), RUN_TIMEOUT_S)
    return run, time.monotonic() - started


async def times_of(run: AgentRun, seconds: float) -> RunTimes:
    history = await run.handle.fetch_history()
    status: str
    try:
        result = await run.result()
        status, tokens = result.status, result.usage.completion_tokens
    except WorkflowFailureError as e:
        status, tokens = f"failed ({e.cause})"[:60], 0
    scheduled: dict[int, HistoryEvent] = {}
    attempts, queued, failure = 0, 0.0, ""
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name == "tether.llm":
                scheduled[event.event_id] = event
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id not in scheduled:
                continue
            # Only the last attempt's start is in history, with the one before's failure.
            attempts += started.attempt
            if started.attempt == 1:
                at = scheduled[started.scheduled_event_id].event_time.ToDatetime()
                queued += (event.event_time.ToDatetime() - at).total_seconds()
            if started.HasField("last_failure"):
                cause = started.last_failure
                while cause.HasField("cause"):
                    cause = cause.cause
                kind = cause.application_failure_info.type or (
                    "timeout" if cause.HasField("timeout_failure_info") else "failure"
                )
                failure = f"{kind}: {cause.message[:80]}"
    return RunTimes(
        seconds=round(seconds, 1),
        status=status,
        attempts=attempts,
        last_failure=failure,
        queued_seconds=round(queued, 1),
        completion_tokens=tokens,
    )


async def measure(runs: int, llm_slots: int | None, max_tokens: int | None) -> dict[str, Any]:
    policy = LlmPolicy() if max_tokens is None else LlmPolicy(max_tokens=max_tokens)
    agent = Agent(name="local-writer", instructions="You are a storyteller.", llm=policy)
    tuning = WorkerTuning()
    if llm_slots is not None:  # not in a Tether older than issue 31
        tuning = WorkerTuning(max_concurrent_llm_calls=llm_slots)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, llama_server(Path(tmp) / "llama.log") as url:
        settings = LlmSettings(
            base_url=f"{url}/v1", api_key="unused", model=MODEL_ALIAS, offline=False
        )
        async with dev_server() as env, worker(env.client, agent, settings, tuning=tuning) as w:
            started = time.monotonic()
            done = await asyncio.gather(
                *(one_run(env.client, w.task_queue, agent.name) for _ in range(runs))
            )
            wall = time.monotonic() - started
            found = [await times_of(run, s) for run, s in done]
    return {
        "runs": runs,
        "llm_slots": llm_slots,
        "max_tokens": max_tokens,
        "policy": {
            k: str(v) for k, v in policy.model_dump().items() if "timeout" in k or k == "max_tokens"
        },
        "wall_seconds": round(wall, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "per_run": [asdict(t) for t in found],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.local_model", description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--llm-slots", type=int, help="the worker's model calls at once")
    parser.add_argument("--max-tokens", type=int, help="the agent's reply cap (default: Tether's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(measure(args.runs, args.llm_slots, args.max_tokens))
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(
        f"{report['runs']} runs at once, llm slots {report['llm_slots']}, policy "
        f"{report['policy']}: {report['wall_seconds']} s in all; load {report['load_before']} "
        f"-> {report['load_after']}"
    )
    for i, run in enumerate(report["per_run"], 1):
        print(
            f"  run {i}: {run['seconds']:7.1f} s  {run['status']:<10} attempts {run['attempts']}"
            f"  queued {run['queued_seconds']:6.1f} s  tokens {run['completion_tokens']:5d}"
            + (f"  last failure {run['last_failure']}" if run["last_failure"] else "")
        )


if __name__ == "__main__":
    main()
