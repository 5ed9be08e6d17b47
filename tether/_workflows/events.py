"""A run's event feed, workflow side (workflow code: no I/O).

The feed is a Temporal Workflow Stream (`temporalio.contrib.workflow_streams`): the
workflow appends its own events to an in-memory log, which costs no history (a replay
appends them again); the LLM activity appends the reply's text by signal (see
_activities/streaming.py). Subscribers read the log with a query (see _subscribe.py).
Nothing here issues a command: streaming adds to a run's history only the activity's
signals.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowStreamState

with workflow.unsafe.imports_passed_through():
    from tether._events import TOPIC, Event

# What a conversation carries of its feed into its next run: the latest events, up to
# this many bytes, so a subscriber a little behind resumes there. It reads anything
# older from the earlier run (which answers queries too); the payload stays small.
CARRY_BYTES = 16 * 1024
# A publisher's dedup record is kept this long: an LLM activity's retried flush is over
# in seconds, and a chat carries every record alive into its next run.
PUBLISHER_TTL = timedelta(minutes=2)


class RunEvents:
    """Publish a run's events; carry the feed across continue-as-new.

    Build it in the workflow's `__init__` around `WorkflowStream(prior_state)`, which
    must be constructed there (it registers the stream's signal, update and queries).
    """

    def __init__(self, stream: WorkflowStream) -> None:
        self._stream = stream
        self._topic = stream.topic(TOPIC)

    def publish(self, event: Event) -> None:
        self._topic.publish(event)

    def close(self) -> None:
        """The run is ending: release subscribers polling by update (Tether's own poll
        by query), so their open polls cannot keep the run from closing."""
        self._stream.detach_pollers()

    def carry(self) -> WorkflowStreamState:
        """The feed's state for the next run: its offsets, and its latest events up to
        CARRY_BYTES."""
        self.close()
        state = self._stream.get_state(publisher_ttl=PUBLISHER_TTL)
        kept = size = 0
        for item in reversed(state.log):
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
