"""A run's event feed, workflow side (workflow code: no I/O).

The feed is a Temporal Workflow Stream (`temporalio.contrib.workflow_streams`): the
workflow appends its own events to an in-memory log, which costs no history (a replay
appends them again); the LLM activity appends the reply's text by signal (see
_activities/streaming.py), but only while someone watches: a subscriber announces
itself with the WATCH_SIGNAL (once, and again every WATCH_LEASE / 2 while it stays),
and a model call started in the lease streams. Subscribers read the log with a query
(see _subscribe.py). Nothing here issues a command: an unwatched run's history is the
same as without streaming; a watched one's has the announcements and the activity's
signals.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowStreamState

with workflow.unsafe.imports_passed_through():
    from tether._events import TOPIC, WATCH_SIGNAL, Event

# What a conversation carries of its feed into its next run: the latest events, up to
# this many bytes, so a subscriber a little behind resumes there. It reads anything
# older from the earlier run (which answers queries too); the payload stays small.
CARRY_BYTES = 16 * 1024
# A publisher's dedup record is kept this long: an LLM activity's retried flush is over
# in seconds, and a chat carries every record alive into its next run.
PUBLISHER_TTL = timedelta(minutes=2)
# How long one announcement makes a run stream its replies' text: a subscriber that
# went away without a word stops costing signals within this long.
WATCH_LEASE = timedelta(minutes=10)


class RunEvents:
    """Publish a run's events; carry the feed across continue-as-new.

    Build it in the workflow's `__init__` around `WorkflowStream(prior_state)`, which
    must be constructed there (it registers the stream's signal, update and queries);
    it registers WATCH_SIGNAL. `watched_until` is the lease a continued run carried.
    """

    def __init__(self, stream: WorkflowStream, watched_until: datetime | None = None) -> None:
        self._stream = stream
        self._topic = stream.topic(TOPIC)
        self.watched_until = watched_until
        workflow.set_signal_handler(WATCH_SIGNAL, self._watch)

    def _watch(self) -> None:
        self.watched_until = workflow.now() + WATCH_LEASE

    @property
    def watched(self) -> bool:
        """Whether a subscriber announced itself within the lease: model calls stream."""
        return self.watched_until is not None and workflow.now() < self.watched_until

    def publish(self, event: Event) -> None:
        self._topic.publish(event)

    def close(self) -> None:
        """The run is ending: release subscribers polling by update (Tether's own poll
        by query), so their open polls cannot keep the run from closing."""
        self._stream.detach_pollers()

    def carry(self) -> WorkflowStreamState:
        """The feed's state for the next run: its offsets, and while watched its latest
        events up to CARRY_BYTES (unwatched, none: they would be history bytes for
        nobody, and a later subscriber reads them from this run)."""
        self.close()
        state = self._stream.get_state(publisher_ttl=PUBLISHER_TTL)
        kept = size = 0
        for item in reversed(state.log if self.watched else []):
            size += len(item.data) + len(item.topic)
            if size > CARRY_BYTES:
                break
            kept += 1
        dropped = len(state.log) - kept
        return WorkflowStreamState(
            log=state.log[dropped:],
            base_offset=state.base_offset + dropped,
            publishers=state.publishers,
        )
