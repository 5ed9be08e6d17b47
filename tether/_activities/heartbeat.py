"""Heartbeating for activities that wait on something slow (a tool, a model).

Heartbeats tell Temporal the worker is alive, so a lost worker's attempt is retried
after the heartbeat timeout rather than the whole start-to-close timeout, and they
bring back cancellation requests, which the SDK delivers as `asyncio.CancelledError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity


class Progress:
    """The details a tool (or a model call: the pieces of its reply so far) last
    reported; the heartbeat loop sends them."""

    def __init__(self) -> None:
        self.details: tuple[Any, ...] = ()

    def report(self, *details: Any) -> None:
        # Only stores: safe from a sync tool's thread, sent by the loop below.
        self.details = details


@asynccontextmanager
async def heartbeating() -> AsyncIterator[Progress]:
    """Heartbeat while the body runs, at a third of the heartbeat timeout.

    Local activities cannot heartbeat; their cancellation is delivered in-process.
    """
    progress = Progress()
    info = activity.info()
    if info.is_local or info.heartbeat_timeout is None:
        yield progress
        return
    interval = info.heartbeat_timeout.total_seconds() / 3

    async def beat() -> None:
        while True:
            activity.heartbeat(*progress.details)
            await asyncio.sleep(interval)

    beating = asyncio.create_task(beat())
    try:
        yield progress
    finally:
        beating.cancel()
