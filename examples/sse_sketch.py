"""A SKETCH of a web backend that streams a run's events to a browser as server-sent
events: how `tether.subscribe` maps to SSE, not a backend to deploy. `tether web` (the
`web` extra, docs/guides/web.md) is one: sign-in, who sees which run, CSRF, Host and
Origin checks, and the same feed in Tether's types and as AG-UI events.

WARNING: it authenticates nobody. Anyone who reaches it reads any run's decrypted events
(prompts, tool results, answers) by its workflow id, with any Host header, and each
request makes the run stream (a subscriber's announcement is a signal: a history event).
A real backend adds, before it subscribes:
- who is asking: a session or an access token from your identity provider;
- that the run is theirs: e.g. its `acting_for` is their customer id, in your own
  records of who started what (a workflow id is a name, not a secret);
- that Host is your own name and Origin your own page (DNS rebinding, cross-site reads);
- limits on streams per user, and TLS in front.

    uvicorn --app-dir examples sse_sketch:app --host 127.0.0.1   # GET /runs/<id>/events

Each event goes out with its `seq` as the SSE id: a browser's EventSource that loses
the connection reconnects with `Last-Event-ID`, and the feed resumes right after it,
each event once. In the page: `new EventSource("/runs/ticket-7/events")`, then
`addEventListener("text_delta", ...)` and so on for the types it shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from temporalio.client import Client

import tether
from tether.events import subscribe


async def sse(client: Client, workflow_id: str, last_id: str | None) -> AsyncIterator[str]:
    """The run's events after `last_id` (a reconnecting browser's), as SSE frames."""
    from_seq = int(last_id) + 1 if last_id and last_id.isdigit() else 0
    async for event in subscribe(client, workflow_id, from_seq=from_seq):
        yield f"id: {event.seq}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


async def events(request: Request) -> StreamingResponse:
    client: Client = request.app.state.client
    frames = sse(client, request.path_params["id"], request.headers.get("last-event-id"))
    return StreamingResponse(frames, media_type="text/event-stream")


@asynccontextmanager
async def connect(app: Starlette) -> AsyncIterator[None]:
    app.state.client = await tether.connect()  # TEMPORAL_ADDRESS etc., as the CLI
    yield


app = Starlette(routes=[Route("/runs/{id}/events", events)], lifespan=connect)
