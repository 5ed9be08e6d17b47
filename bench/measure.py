"""What the benchmark reads: a process's CPU time and memory, a run's history size,
latency percentiles. CPU and memory come from /proc, so they need Linux."""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStats:
    cpu_s: float
    rss_kb: int
    peak_rss_kb: int


def proc_stats(pid: int) -> ProcStats:
    """User + system CPU of all the process's threads, its resident and peak memory."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the command name (which may hold spaces) start at its ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    status: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                status[key] = int(value.split()[0])
    return ProcStats((utime + stime) / CLOCK_TICKS, status["VmRSS"], status["VmHWM"])


@dataclass
class HistoryStats:
    events: int
    bytes: int
    # Temporal Cloud's billable actions, counted from the events (see `actions`).
    actions: int = 0
    # Bytes per event type, activities told apart by name: where the history goes.
    by_kind: dict[str, int] = field(default_factory=dict)


# An action each, by Temporal Cloud's published rules: the workflow's start, each
# activity (scheduled, and each retry), each local activity (its marker), each timer,
# search-attribute upsert, signal, update and child workflow.
ACTION_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
}
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def actions(events: list[HistoryEvent]) -> int:
    """The billable actions a run's events add up to."""
    count = 0
    for event in events:
        count += event.event_type in ACTION_EVENTS
        if event.HasField("activity_task_started_event_attributes"):
            count += event.activity_task_started_event_attributes.attempt - 1  # retries
        if event.HasField("marker_recorded_event_attributes"):
            count += event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    return count


async def history_stats(client: Client, workflow_id: str) -> HistoryStats:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    names: dict[int, str] = {}
    by_kind: Counter[str] = Counter()
    for event in history.events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.HasField("activity_task_scheduled_event_attributes"):
            names[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
            kind += f" {names[event.event_id]}"
        elif event.HasField("activity_task_completed_event_attributes"):
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            kind += f" {names.get(scheduled, '?')}"
        by_kind[kind] += event.ByteSize()
    proto = History(events=history.events)
    return HistoryStats(
        len(history.events),
        proto.ByteSize(),
        actions(list(history.events)),
        dict(by_kind.most_common()),
    )


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of a non-empty list."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(q * len(ranked)) - 1)]


def median(values: list[float]) -> float:
    return statistics.median(values)
