"""Following a run's events from outside: `tether.subscribe` and `AgentRun.events`.

    async for event in tether.subscribe(client, "ticket-7"):
        match event:
            case TextDelta(restart=True): text = event.text
            case TextDelta(): text += event.text
            case ToolCallStarted(): print("→", event.tool, event.arguments)
            case RunEnded(): print(event.status)

The feed is the run's Workflow Stream, read with its poll *query*, not its long-poll
update: a query writes nothing to the run's history (an update poll writes two events
per batch it returns, for every subscriber), cannot race a local activity into a
history that does not replay (an update can: see the docs' Workers page), and leaves nothing open on
the run if the subscriber goes away. The price is polling: every `poll_interval`
while events come, backing off to a second while none do.

A subscriber announces itself to the run by signal (WATCH_SIGNAL), when it starts and
every WATCH_LEASE / 2 while it stays: only a watched run streams its replies' text as
it is written, so a run nobody watches pays nothing for streaming.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import pydantic
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.contrib.workflow_streams import PollInput, PollResult
from temporalio.service import RPCError, RPCStatusCode

from tether._events import RUN_EVENT, TOPIC, WATCH_SIGNAL, Reply, RunEnded, RunEvent, TextDelta
from tether._workflows.events import WATCH_LEASE

# The Workflow Stream's query (temporalio.contrib.workflow_streams registers it).
POLL_QUERY = "__temporal_workflow_stream_poll"
OFFSET_QUERY = "__temporal_workflow_stream_offset"  # the offset its next item will have
MAX_IDLE_SECONDS = 1.0
# After this long without events, ask whether the run closed without a last event (it
# was terminated, or its code does not publish one): the feed then ends.
CLOSED_CHECK_SECONDS = 2.0
# A poll that reaches a killed worker's sticky queue waits there about 10 s before the
# server hands it to the run's task queue: a timeout of exactly that gave up on every
# poll, and nothing streamed until the run ended. Well past it, the poll is answered.
QUERY_TIMEOUT = timedelta(seconds=30)
# How many runs back a subscriber looks for events older than the latest run keeps.
MAX_RUNS_BACK = 100


class EventsUnavailable(RuntimeError):
    """The run has no event feed: its worker runs code without one."""


async def subscribe(
    client: Client,
    workflow_id: str,
    *,
    from_seq: int = 0,
    poll_interval: float = 0.1,
    watch: bool = True,
) -> AsyncIterator[RunEvent]:
    """The events of the run `workflow_id`, from `from_seq` on, as they happen, until
    its `RunEnded` (or until it closed without one). A chat's feed goes on across
    continue-as-new; resume a feed with `from_seq=last.seq + 1`, and each event comes
    once.

    Text deltas of an attempt that a newer one superseded (a call retried mid-reply)
    are dropped; the newer attempt's first delta has `restart` set: drop the turn's
    text so far. A `Reply` has the turn's text as the run keeps it.

    Args:
        client: A client with Tether's data converter.
        workflow_id: The run's workflow id.
        from_seq: The first event wanted (0: all of them).
        poll_interval: Seconds between polls while events come.
        watch: Announce this subscriber, so that the run streams its replies' text as
            it is written (a signal now and every 5 minutes: history events). Off, a
            reply's text comes whole when its model call returns, at no cost to the run.

    Raises:
        EventsUnavailable: the run's worker publishes no events.
        temporalio.service.RPCError: there is no such run (status NOT_FOUND), or
            Temporal refused the query.
    """
    feed = _Feed(client, workflow_id, from_seq, watch)
    async for event in feed.follow(poll_interval):
        yield event


def follow(
    client: Client, workflow_id: str, from_seq: int, *, watch: bool, announced: float | None
) -> AsyncIterator[RunEvent]:
    """`subscribe`, for a caller that announced a subscriber at `announced` (the event
    loop's time) itself: the first announcement is then due half a lease later."""
    return _Feed(client, workflow_id, from_seq, watch, announced=announced).follow(0.1)


@dataclass
class _Feed:
    client: Client
    workflow_id: str
    offset: int
    watch: bool
    texts: _Texts = field(default_factory=lambda: _Texts())
    announced: float | None = None  # when this subscriber last announced itself

    async def follow(self, interval: float) -> AsyncIterator[RunEvent]:
        loop = asyncio.get_running_loop()
        idle, quiet_since, closed = interval, loop.time(), False
        while True:
            await self._announce()
            result = await self._poll(None)
            found = [*(await self._earlier(result)), *result.items]
            for item in found:
                if item.offset < self.offset:
                    continue  # the latest run's copy of what an earlier run gave
                self.offset = item.offset + 1
                event = self._event(item.topic, item.data, item.offset)
                if event is None:
                    continue
                yield event
                if isinstance(event, RunEnded):
                    return
            self.offset = max(self.offset, result.next_offset)
            if result.more_ready:
                continue
            if closed:
                return  # that was the last poll of a run that closed without a RunEnded
            if found:
                idle, quiet_since = interval, loop.time()
            elif loop.time() - quiet_since > CLOSED_CHECK_SECONDS:
                closed = await self._closed()
                quiet_since = loop.time()
                if closed:
                    continue  # one more poll, for what it published before it closed
            await asyncio.sleep(idle)
            if not found:
                idle = min(idle * 2, MAX_IDLE_SECONDS)

    async def _announce(self) -> None:
        """Tell the run it is watched, if the last word is half a lease old."""
        now = asyncio.get_running_loop().time()
        renew = WATCH_LEASE.total_seconds() / 2
        if not self.watch or (self.announced is not None and now - self.announced < renew):
            return
        self.announced = now
        handle = self.client.get_workflow_handle(self.workflow_id)
        with suppress(RPCError):  # a closed run (or none: the poll says so) needs no word
            await handle.signal(WATCH_SIGNAL, rpc_timeout=QUERY_TIMEOUT)

    async def _closed(self) -> bool:
        status = (await self.client.get_workflow_handle(self.workflow_id).describe()).status
        return status not in (
            WorkflowExecutionStatus.RUNNING,
            WorkflowExecutionStatus.CONTINUED_AS_NEW,
        )

    async def _poll(self, run_id: str | None, offset: int | None = None) -> PollResult:
        """The feed from `offset` (default: where this subscriber is) as run `run_id`
        (default: the latest) has it; transient failures are retried."""
        handle = self.client.get_workflow_handle(self.workflow_id, run_id=run_id)
        request = PollInput(from_offset=self.offset if offset is None else offset)
        delay = 0.1
        while True:
            try:
                result: PollResult = await handle.query(
                    POLL_QUERY, request, result_type=PollResult, rpc_timeout=QUERY_TIMEOUT
                )
                return result
            except WorkflowQueryFailedError as e:
                if "unknown queryType" in e.message:
                    raise EventsUnavailable(
                        f"run {self.workflow_id!r} has no event feed: its worker runs a "
                        "Tether without streaming (upgrade the worker)"
                    ) from None
                # Not answered now (e.g. the run's first workflow task has not run yet).
            except RPCError as e:
                if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    raise
                # No worker answered in time, or Temporal is unreachable for a moment.
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_IDLE_SECONDS)

    async def _earlier(self, latest: PollResult) -> list[_Item]:
        """What the latest run no longer has of the feed since this subscriber's offset
        (it carries only the latest events across continue-as-new): from the runs
        before it, which answer queries too."""
        first = latest.items[0].offset if latest.items else latest.next_offset
        if first <= self.offset:
            return []
        run_id: str | None = (
            await self.client.get_workflow_handle(self.workflow_id).describe()
        ).run_id
        found: list[_Item] = []
        for _ in range(MAX_RUNS_BACK):
            run_id = await self._previous_run(run_id)
            if run_id is None:
                break
            result = await self._poll(run_id)
            found = [i for i in result.items if i.offset < first] + found
            first = min(first, result.items[0].offset if result.items else first)
            if first <= self.offset:
                break
        return found

    async def _previous_run(self, run_id: str | None) -> str | None:
        """The run that `run_id` continued, if it continued one."""
        handle = self.client.get_workflow_handle(self.workflow_id, run_id=run_id)
        async for event in handle.fetch_history_events():
            previous = event.workflow_execution_started_event_attributes.continued_execution_run_id
            return previous or None
        return None

    def _event(self, topic: str, data: str, offset: int) -> RunEvent | None:
        if topic != TOPIC:
            return None  # someone else's topic on the same stream
        payload = Payload.FromString(base64.b64decode(data))
        try:
            value = self.client.data_converter.payload_converter.from_payload(payload)
            event = RUN_EVENT.validate_python(value)
        except (pydantic.ValidationError, ValueError):
            return None  # a kind of event this Tether does not know (a newer worker's)
        event = event.model_copy(update={"seq": offset, "workflow_id": self.workflow_id})
        return self.texts.check(event)


class _Item(Protocol):
    """A stream item as a poll returns it (the stream's wire type)."""

    topic: str
    data: str
    offset: int


@dataclass
class _Texts:
    """Which attempt's text this subscriber shows for each turn being written."""

    current: dict[int, tuple[str, int]] = field(default_factory=dict)
    seen: dict[int, set[tuple[str, int]]] = field(default_factory=dict)
    replied: int = 0  # the latest turn whose reply is complete

    def check(self, event: RunEvent) -> RunEvent | None:
        """`event`, marked if it starts a turn's text over; None if it is superseded."""
        if isinstance(event, Reply):
            self.replied = max(self.replied, event.turn)
            self.current.pop(event.turn, None)
            self.seen.pop(event.turn, None)
            return event
        if not isinstance(event, TextDelta):
            return event
        if event.turn <= self.replied:
            return None  # a late delta of a reply that is complete
        key = (event.call, event.attempt)
        current = self.current.get(event.turn)
        if key == current:
            return event
        seen = self.seen.setdefault(event.turn, set())
        older = current is not None and key[0] == current[0] and key[1] < current[1]
        if key in seen or older:
            return None  # an attempt a newer one superseded, sending late
        seen.add(key)
        self.current[event.turn] = key
        return event.model_copy(update={"restart": current is not None})
