"""The docs' sketch of a web backend (examples/sse_sketch.py), served by uvicorn on
loopback and read over real HTTP: a run's events as server-sent events, resumed after
Last-Event-ID."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from starlette.applications import Starlette
from temporalio.testing import WorkflowEnvironment

from tests.support.processes import free_port
from tests.support.waiting import until
from tests.support.writer_agents import AGENTS, ANSWER
from tether import AgentRun
from tether.testing import ScriptedLLM, Streamed, say, worker

SKETCH = Path(__file__).resolve().parents[2] / "examples" / "sse_sketch.py"


def sketch_app() -> Starlette:
    """The sketch's app (examples/ is not a package: it is loaded from its file)."""
    spec = importlib.util.spec_from_file_location("sse_sketch", SKETCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: Starlette = module.app
    return app


async def frames(url: str, last_id: str | None = None) -> list[dict[str, Any]]:
    """The SSE frames of `url` until the server ends the stream (the run's end)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = (await response.read()).decode()
    found = []
    for frame in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        found.append({"id": fields["id"], "event": fields["event"], **json.loads(fields["data"])})
    return found


async def test_the_sse_backend_streams_a_runs_events_and_resumes_after_the_last_id(
    dev_env: WorkflowEnvironment,
) -> None:
    app = sketch_app()
    app.state.client = dev_env.client  # what its lifespan connects, here the test's server
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    try:
        with ScriptedLLM() as llm:
            llm.enqueue(Streamed(say(ANSWER), delay=0.02))
            async with worker(dev_env.client, AGENTS, llm) as w:
                run = await AgentRun.start(
                    dev_env.client, "writer", "Where?", task_queue=w.task_queue, watch=True
                )
                url = f"http://127.0.0.1:{port}/runs/{run.id}/events"
                await until(started, "uvicorn did not start")
                async with asyncio.timeout(60):
                    live = await frames(url)
                    rest = await frames(url, last_id=live[1]["id"])
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
    assert [f["id"] for f in live] == [str(f["seq"]) for f in live]
    assert live[-1]["event"] == "run_ended" and live[-1]["answer"] == ANSWER
    assert "".join(f["text"] for f in live if f["event"] == "text_delta") == ANSWER
    assert rest == live[2:]
