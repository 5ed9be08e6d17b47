"""A model call read as a stream, its reply's text reaching the run's event feed while
it is written.

Every call asks the provider for a stream (`stream=True`), so that a reply still being
written is told from a stalled one (see timeouts.py), and builds the same complete
message a plain call returns: that message is what the workflow uses. If the run asked
for the text (someone watches it), the text on the way goes to the run by signal,
batched (each signal is a history event and a billable action), and nothing that goes
wrong with it fails or holds up the call: a failed send is logged and the reply still
returns. Each delta names this attempt, so a subscriber can drop what a failed attempt
had written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from openai import AsyncOpenAI
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion
from temporalio import activity
from temporalio.contrib.workflow_streams import WorkflowStreamClient

from tether._activities.heartbeat import Progress
from tether._activities.llm_errors import malformed
from tether._events import TOPIC, TextDelta
from tether._logs import get_logger

log = get_logger("tether.llm")

# A reply complete within this long of its first text is sent as no signal at all: the
# workflow publishes it whole from the returned message, for free.
COALESCE_SECONDS = 0.1
# A long reply's text is sent at most every twentieth of the time it has taken so far:
# its signals grow with the log of its length, not with its length.
SPACING_FRACTION = 20
# Bounds on one send, and on the last one once the reply is complete (the call's
# result waits for it, so that the feed has the text before the reply event).
SEND_TIMEOUT_SECONDS = 10.0
LAST_SEND_TIMEOUT_SECONDS = 3.0


class DeltaFeed:
    """The text of one attempt's reply, sent to the run in batches. `sent` says whether
    any batch reached it."""

    def __init__(self, turn: int, interval: float) -> None:
        info = activity.info()
        self._turn, self._call, self._attempt = turn, info.activity_id, info.attempt
        self._interval = interval
        # Flushed here, not on its own timer: a day is "never".
        self._client = WorkflowStreamClient.from_within_activity(batch_interval=timedelta(days=1))
        self._topic = self._client.topic(TOPIC)
        self._text: list[str] = []
        self._sender: asyncio.Task[None] | None = None
        self._started = 0.0
        self._sending = False
        self._stopped = False
        self._failed = False
        self.sent = False

    def add(self, text: str) -> None:
        if not text:
            return
        self._text.append(text)
        if self._sender is None:
            self._started = asyncio.get_running_loop().time()
            self._sender = asyncio.create_task(self._send_batches())

    async def finish(self) -> None:
        """The reply is complete: send what is left, unless nothing was sent yet (the
        workflow then publishes the whole text)."""
        if self._sender is None:
            return
        await self._stop()
        if self._sending:
            await self._send(LAST_SEND_TIMEOUT_SECONDS)

    async def abort(self) -> None:
        """The attempt failed or was cancelled: stop sending."""
        await self._stop()

    async def _stop(self) -> None:
        if self._sender is not None:
            self._stopped = True
            self._sender.cancel()
            await asyncio.wait([self._sender])  # raises only if this task is cancelled

    async def _send_batches(self) -> None:
        await asyncio.sleep(COALESCE_SECONDS)
        self._sending = True
        loop = asyncio.get_running_loop()
        # Until stopped, not only until cancelled: a cancel that meets a send just
        # completing can be lost, and the call would wait for this loop until it timed out.
        while not self._stopped:
            await self._send(SEND_TIMEOUT_SECONDS)
            spent = loop.time() - self._started
            await asyncio.sleep(max(self._interval, spent / SPACING_FRACTION))

    async def _send(self, within: float) -> None:
        if self._text:
            text, self._text = "".join(self._text), []
            self._topic.publish(
                TextDelta(turn=self._turn, text=text, call=self._call, attempt=self._attempt)
            )
        try:
            # A batch that failed stays with the client, and goes first next time (the
            # run drops a copy it already has).
            async with asyncio.timeout(within):
                await self._client.flush()
        except Exception as e:  # never the call's failure: the returned message counts
            if not self._failed:
                log.warning("reply text not streamed to the run", error=type(e).__name__)
            self._failed = True
            return
        self.sent = True


class Receiving:
    """What one call has received: its pieces counted in the activity's heartbeat (so
    `tether status` tells a call being written from one still waiting for its first
    byte), its text passed on to the run's feed if the run asked for it."""

    def __init__(self, progress: Progress, feed: DeltaFeed | None) -> None:
        self._progress = progress
        self._feed = feed
        self.pieces = 0

    @property
    def sent(self) -> bool:
        """Some of the text reached the run."""
        return self._feed is not None and self._feed.sent

    def piece(self, text: str | None = None) -> None:
        self.pieces += 1
        self._progress.report(self.pieces)
        if text and self._feed is not None:
            self._feed.add(text)


@asynccontextmanager
async def receiving(
    progress: Progress, turn: int, interval: float | None
) -> AsyncIterator[Receiving]:
    """A call's `Receiving`; with an `interval`, its text goes to the run (see
    DeltaFeed), what is left of it once the call is done, none once it failed."""
    feed = DeltaFeed(turn, interval) if interval is not None else None
    try:
        yield Receiving(progress, feed)
    except BaseException:
        if feed is not None:
            await feed.abort()
        raise
    if feed is not None:
        await feed.finish()


async def streamed_completion(
    client: AsyncOpenAI, model: str, got: Receiving, **create: Any
) -> ChatCompletion:
    """The completion of a streamed call, built from its chunks, each of which `got`
    receives. A provider that answers a stream request with one completion (it does not
    stream) is read as such."""
    stream = await client.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True}, **create
    )
    async with stream:
        if "text/event-stream" not in stream.response.headers.get("content-type", ""):
            return _whole(model, await stream.response.aread())
        state = ChatCompletionStreamState()
        chunks = 0
        async for chunk in stream:
            state.handle_chunk(chunk)
            chunks += 1
            got.piece(chunk.choices[0].delta.content if chunk.choices else None)
    if chunks == 0:
        raise malformed(model, "the stream had no chunks")
    # The snapshot, not get_final_completion(): that one raises on finish_reason
    # "length", which a plain call returns as a (cut) reply.
    return state.current_completion_snapshot


def _whole(model: str, body: bytes) -> ChatCompletion:
    try:
        return ChatCompletion.construct(**json.loads(body))
    except (ValueError, TypeError) as e:
        raise malformed(model, f"a stream request got neither a stream nor JSON ({e})") from None
