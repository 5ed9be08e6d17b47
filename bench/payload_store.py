"""History bytes with and without an external payload store: `python -m bench.payload_store`.

An agent reads a document of `--megabytes` MB `--results` times (one tool call each), on
the time-skipping test server with the scripted model; once with Temporal's history
holding every payload, once with TETHER_PAYLOAD_STORE's file store holding those over
the threshold. Prints the history's bytes per run and its largest event, for each.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.converter import ExternalStorage

from tether import Agent, AgentRegistry, AgentRun, tool
from tether._storage import FileStore
from tether._temporal import TETHER_CONVERTER
from tether.testing import ScriptedLLM, Step, call_tools, say, time_skipping, worker

RUN_TIMEOUT_S = 300.0


def reader(size: int) -> Agent:
    text = "".join(f"line {i:08d} of the document\n" for i in range(size // 31))

    @tool(max_result_bytes=size + 1024)
    def fetch(part: int) -> str:
        """Fetch one part of the document."""
        return text

    return Agent(name="reader", instructions="Read it.", tools=[fetch])


def reads(count: int) -> Any:
    def script(messages: list[dict[str, Any]]) -> Step:
        done = sum(m["role"] == "tool" for m in messages)
        return call_tools(("fetch", {"part": done})) if done < count else say("read")

    return script


async def measure(client: Client, agent: Agent, results: int) -> tuple[int, int]:
    """(history bytes, largest event's bytes) of one run."""
    with ScriptedLLM(reads(results)) as llm:
        async with worker(client, AgentRegistry([agent]), llm) as w:
            run = await AgentRun.start(client, "reader", "go", task_queue=w.task_queue)
            await asyncio.wait_for(run.result(), RUN_TIMEOUT_S)
    sizes = [e.ByteSize() async for e in run.handle.fetch_history_events()]
    return sum(sizes), max(sizes)


async def main(megabytes: float, results: int) -> None:
    agent = reader(int(megabytes * 2**20))
    async with time_skipping() as env:
        with tempfile.TemporaryDirectory() as store:
            stored = dataclasses.replace(
                TETHER_CONVERTER, external_storage=ExternalStorage(drivers=[FileStore(Path(store))])
            )
            clients = {
                "history only": env.client,
                "file store": Client(
                    env.client.service_client, namespace=env.client.namespace, data_converter=stored
                ),
            }
            print(f"{results} tool results of {megabytes} MB each, one run per row\n")
            print("| payloads in | history bytes per run | largest event |")
            print("|---|---:|---:|")
            for name, client in clients.items():
                total, largest = await measure(client, agent, results)
                print(f"| {name} | {total:,} | {largest:,} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.payload_store", description=__doc__)
    parser.add_argument("--megabytes", type=float, default=0.99, help="each tool result")
    parser.add_argument("--results", type=int, default=3, help="tool calls per run")
    args = parser.parse_args()
    asyncio.run(main(args.megabytes, args.results))
