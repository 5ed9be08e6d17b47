"""A run's event streams over HTTP: a client that loses its connection mid-stream and
comes back with `Last-Event-ID` gets every event once, in Tether's types and as AG-UI
events (each frame's id is the seq of the Tether event it comes from)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.support.web import LEAD, USERS, served, signed_in
from tether import Agent, AgentRun
from tether._web.streams import paced
from tether.events import subscribe
from tether.testing import ScriptedLLM, say, worker
from tether.web import WebConfig, create_app

WRITER = Agent(name="order-desk", instructions="Write at length.")  # the lead's agent
ANSWER = " ".join(f"word{i}" for i in range(120))


async def frames(answer: httpx.Response, stop_after: int | None = None) -> list[dict[str, str]]:
    """The SSE frames of `answer` (each a dict of its fields), until it ends or
    `stop_after` frames with an id were read."""
    found: list[dict[str, str]] = []
    frame: dict[str, str] = {}
    async for line in answer.aiter_lines():
        if line == "":
            if "data" in frame:
                found.append(frame)
                if stop_after is not None and sum("id" in f for f in found) >= stop_after:
                    return found
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            frame[name] = value
    return found


async def read_with_a_break(http: httpx.AsyncClient, path: str) -> list[dict[str, str]]:
    """The stream read in two connections: the second resumes after the last id the
    first got, as a browser's EventSource does."""
    async with http.stream("GET", path) as answer:
        first = await frames(answer, stop_after=6)
    assert not any("run_ended" in f["data"] or "RUN_FINISHED" in f["data"] for f in first), (
        "the first connection saw the end: no break mid-stream"
    )
    last = [f["id"] for f in first if "id" in f][-1]
    async with http.stream("GET", path, headers={"Last-Event-ID": last}) as answer:
        second = await frames(answer)
    return first + second


async def test_a_lost_connection_resumes_after_the_last_event_id(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with ScriptedLLM(chunk_delay=0.03) as llm:
        llm.enqueue(say(ANSWER), say(ANSWER))
        async with worker(dev_env.client, [WRITER], llm) as w:
            config = WebConfig(users=USERS, signer=None, task_queue=w.task_queue)
            async with (
                served(create_app(config, client=dev_env.client)) as base,
                signed_in(base, LEAD) as http,
            ):
                runs = []
                read: list[list[dict[str, str]]] = []
                for path in ("/events", "/events/agui"):
                    run = await AgentRun.start(
                        dev_env.client, WRITER, "Go on.", task_queue=w.task_queue, watch=True
                    )
                    runs.append(run)
                    read.append(await read_with_a_break(http, f"/runs/{run.id}{path}"))
            async with asyncio.timeout(60):
                feeds = [
                    [e async for e in subscribe(dev_env.client, r.id, watch=False)] for r in runs
                ]
    tether, agui = read
    assert [int(f["id"]) for f in tether if "id" in f] == [e.seq for e in feeds[0]]
    assert tether[-1]["event"] == "end"
    text = "".join(
        json.loads(f["data"]).get("text", "") for f in tether if f.get("event") == "text_delta"
    )
    assert text == ANSWER  # the deltas, each once, join to the answer
    ids = [int(f["id"]) for f in agui if "id" in f]
    # Every Tether event as one AG-UI event or more (a tool call is three), each once.
    assert ids == sorted(ids) and sorted(set(ids)) == [e.seq for e in feeds[1]]
    sent = [(f.get("id"), f["data"]) for f in agui if "id" in f]
    assert len(sent) == len(set(sent))
    kinds = [json.loads(f["data"])["type"] for f in agui]
    assert kinds.count("RUN_STARTED") == 2  # each connection opens with one
    assert kinds[-1] == "RUN_FINISHED"
    deltas = "".join(
        json.loads(f["data"])["delta"] for f in agui if '"TEXT_MESSAGE_CONTENT"' in f["data"]
    )
    assert deltas == ANSWER


async def test_idle_ticks_lose_no_item() -> None:
    """Items that come as often as the idle ticks (the AG-UI stream looks at its run
    every half second between events) all come through, in order."""

    async def items() -> AsyncIterator[int]:
        for i in range(200):
            await asyncio.sleep(0.002 * (i % 3))
            yield i

    got = [i async for i in paced(items(), 0.002) if i is not None]
    assert got == list(range(200))
