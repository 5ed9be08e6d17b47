"""A benchmark worker process: `python -m bench.worker KIND ADDRESS QUEUE LLM_URL`.

A process of its own, so the driver reads the worker's CPU time and memory from /proc
without counting itself, the model server or the Temporal server. KIND `tether` runs
Tether's worker (`tether.create_worker`), `tether-nosearch` the same without
search attributes (a configuration lever), `floor` the hand-written FloorWorkflow and
`floor-unsandboxed` the same without the workflow sandbox (another lever). It
prints READY once it polls and stops gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.agents import BENCH, REGISTRY
from bench.calls import model_client
from bench.floor_activities import FloorActivities
from bench.floor_workflow import FloorWorkflow
from tether import LlmSettings
from tether import _logs as logs
from tether._process import exit_now
from tether._temporal import TETHER_CONVERTER
from tether.testing import OFFLINE_MODEL
from tether.worker import create_worker

READY = "bench-worker ready"
KINDS = ("tether", "tether-nosearch", "floor", "floor-unsandboxed")


async def make_worker(kind: str, client: Client, queue: str, llm_url: str) -> Worker:
    if kind.startswith("floor"):
        floor = FloorActivities(BENCH, model_client(llm_url))
        return Worker(
            client,
            task_queue=queue,
            workflows=[FloorWorkflow],
            activities=[floor.llm, floor.tool, floor.spec],
            # The sandbox re-imports the workflow's modules for every run; without it
            # shows what that costs (Tether's worker keeps it: it guards determinism).
            workflow_runner=UnsandboxedWorkflowRunner()
            if kind == "floor-unsandboxed"
            else SandboxedWorkflowRunner(),
        )
    llm = LlmSettings(base_url=llm_url, api_key="bench", model=OFFLINE_MODEL, offline=False)
    return create_worker(client, REGISTRY, llm=llm, queue=queue, search_attributes=kind == "tether")


async def serve(kind: str, address: str, queue: str, llm_url: str) -> None:
    logs.configure("INFO")  # JSON lines: bench.fleet counts the conversation rebuilds
    client = await Client.connect(address, data_converter=TETHER_CONVERTER)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with await make_worker(kind, client, queue, llm_url):
        print(READY, flush=True)
        await stop.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in KINDS:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    asyncio.run(serve(*argv))
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
