"""A run's events over server-sent events, in Tether's own types or as AG-UI events.

Every frame names the `seq` of the Tether event it comes from as its SSE id: a browser
that loses the connection reconnects with `Last-Event-ID`, and the feed resumes right
after it, each event once; a page that reloads resumes with `?from=SEQ`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import TypeVar

from starlette.requests import Request

from tether._events import RunEvent

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 1000
T = TypeVar("T")


def first_seq(request: Request) -> int:
    """Where a stream starts: after the browser's `Last-Event-ID`, else at `?from=`."""
    last = request.headers.get("last-event-id", "")
    if last.isdigit():
        return int(last) + 1
    given = request.query_params.get("from", "")
    return int(given) if given.isdigit() else 0


def frame(data: str, *, event: str | None = None, id: int | None = None) -> str:
    """One SSE frame; `data` is JSON, which holds no raw newline."""
    head = f"id: {id}\n" if id is not None else ""
    head += f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n"


async def paced(items: AsyncIterator[T], idle: float) -> AsyncIterator[T | None]:
    """`items` as they come, and None after each `idle` seconds without one (for a
    keep-alive, or a look at the run meanwhile). Reading runs in a task of its own, so
    an idle tick never cancels a read half done; its error is raised here."""
    queue: asyncio.Queue[tuple[T | None, BaseException | None, bool]] = asyncio.Queue(64)

    async def pump() -> None:
        try:
            async for item in items:
                await queue.put((item, None, False))
        except Exception as e:
            await queue.put((None, e, True))
        else:
            await queue.put((None, None, True))

    reader = asyncio.create_task(pump())
    # One get at a time, kept across idle ticks: a get cancelled by a timeout could
    # take an item with it (asyncio.wait_for's race), and an event must never be lost.
    getter: asyncio.Task[tuple[T | None, BaseException | None, bool]] | None = None
    try:
        while True:
            getter = getter or asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter}, timeout=idle)
            if not done:
                yield None
                continue
            item, error, finished = getter.result()
            getter = None
            if error is not None:
                raise error
            if finished:
                return
            yield item
    finally:
        for task in (reader, getter):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task


async def tether_frames(events: AsyncIterator[RunEvent]) -> AsyncIterator[str]:
    """The run's events as Tether's own types (`event:` is the type), then `end`."""
    yield f"retry: {RETRY_MS}\n\n"
    async for event in paced(events, KEEPALIVE_SECONDS):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        yield frame(event.model_dump_json(), event=event.type, id=event.seq)
    # The feed is over: a browser's EventSource would otherwise reconnect for more.
    yield frame("{}", event="end")
