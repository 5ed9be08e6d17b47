"""What a run's model calls in flight wait for, as Temporal sees them: a free model slot
(a worker that limits its model calls leaves the rest queued in Temporal), the model's
first byte, or the rest of a reply being written (the pieces received so far ride on
the call's heartbeats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionDescription

from tether._wire import LLM_ACTIVITY


@dataclass(frozen=True)
class ModelCall:
    """A model call in flight: queued, or started with `pieces` of its reply received."""

    what: str
    queued: bool
    since: datetime | None
    pieces: int

    def line(self, now: datetime) -> str:
        waited = f" for {(now - self.since).total_seconds():.0f} s" if self.since else ""
        if self.queued:
            return f"queued{waited}: {self.what}, for a free model slot on a worker"
        if not self.pieces:
            return f"waiting{waited} for the model's first byte: {self.what}"
        return f"{self.what}: {self.pieces} pieces of the reply so far (running{waited})"


async def model_calls(
    client: Client, described: WorkflowExecutionDescription, labels: dict[str, str]
) -> list[ModelCall]:
    """The run's model calls in flight, labelled by `labels` (activity id to summary)."""
    found = []
    now = datetime.now(UTC)
    for pending in described.raw_description.pending_activities:
        if pending.activity_type.name != LLM_ACTIVITY or _backing_off(pending, now):
            continue  # a retry's wait is told by its own line (history.Retry)
        queued = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        since = pending.scheduled_time if queued else pending.last_started_time
        found.append(
            ModelCall(
                what=labels.get(pending.activity_id, LLM_ACTIVITY),
                queued=queued,
                since=since.ToDatetime(UTC) if since.seconds else None,
                pieces=0 if queued else await _pieces(client, pending),
            )
        )
    return found


def has_model_calls(described: WorkflowExecutionDescription) -> bool:
    return any(
        p.activity_type.name == LLM_ACTIVITY for p in described.raw_description.pending_activities
    )


def _backing_off(pending: PendingActivityInfo, now: datetime) -> bool:
    due = pending.next_attempt_schedule_time
    return pending.HasField("next_attempt_schedule_time") and due.ToDatetime(UTC) > now


async def _pieces(client: Client, pending: PendingActivityInfo) -> int:
    """What the call's last heartbeat said it had received (0: nothing yet)."""
    if not pending.heartbeat_details.payloads:
        return 0
    try:
        [pieces] = await client.data_converter.decode(pending.heartbeat_details.payloads, [int])
    except Exception:  # a heartbeat of another shape (an older Tether): nothing to tell
        return 0
    return pieces if isinstance(pieces, int) else 0
