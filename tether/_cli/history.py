"""A run as Temporal alone knows it, without asking its worker: its description (status,
search attributes, the calls Temporal is retrying) and its history (the model calls, the
timers it waits on, how it ended).

Queries need a worker, and a run whose worker is down, busy or gone is just the one a
person looks at: `status`, `transcript` and `watch` fall back to this. It reads what
every Tether run type records the same way (Tether's LLM activity, labelled timers, the
`AgentStatus`/`AgentName` search attributes), so it knows no workflow type. Model calls
made as local activities leave no input in history and are not read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
)
from temporalio.client import WorkflowHandle as _Handle

from tether._cli.common import root_cause
from tether._messages import Message, Usage
from tether._visibility import AGENT_STATUS_KEY, listed_agent
from tether._wire import LLM_ACTIVITY, LlmReply, LlmRequest

# Temporal's execution statuses in Tether's words (one spelling of "cancelled").
EXECUTION_STATUS = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued_as_new",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}


def execution_status(status: WorkflowExecutionStatus | None) -> str:
    return EXECUTION_STATUS.get(status, "unknown") if status else "unknown"


def run_status(run: WorkflowExecution) -> str:
    """The run's own status (`AgentStatus`) while it runs or once it completed; how it
    ended otherwise (a run that failed need not have said so in its search attributes)."""
    execution = execution_status(run.status)
    if execution in ("running", "completed"):
        return run.typed_search_attributes.get(AGENT_STATUS_KEY) or execution
    return execution


@dataclass(frozen=True)
class Retry:
    """A call Temporal retries: its label, the attempt due, and why the last one failed."""

    what: str
    attempt: int
    maximum_attempts: int  # 0: no limit
    error: str
    next_attempt: datetime | None

    def line(self) -> str:
        of = f" of {self.maximum_attempts}" if self.maximum_attempts else ""
        when = f" at {self.next_attempt:%H:%M:%S} UTC" if self.next_attempt else " running"
        return (
            f"retrying {self.what}: attempt {self.attempt - 1} failed ({self.error}); "
            f"attempt {self.attempt}{of}{when}"
        )


@dataclass(frozen=True)
class Wait:
    """A timer the run waits on: its label (what for) and when it fires."""

    what: str
    until: datetime

    def line(self) -> str:
        return f"waits until {self.until:%Y-%m-%d %H:%M} UTC: {self.what}"


@dataclass
class Record:
    """What the run's description and its latest run's history say."""

    workflow_id: str
    name: str
    status: str
    running: bool
    messages: list[Message] = field(default_factory=list)
    llm_calls: int = 0
    turn: int = 0
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    waits: list[Wait] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # activity id to summary
    tools_dropped: bool = False
    error: str | None = None
    result: Any = None
    # Where the latest conversation starts: a pipeline's LLM steps are one each.
    _step_start: int = 0

    @property
    def last_answer(self) -> str | None:
        for message in reversed(self.messages):
            if message.role == "assistant" and not message.tool_calls:
                return message.content
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "name": self.name,
            "status": self.status,
            "turn": self.turn,
            "llm_calls": self.llm_calls,
            "usage": self.usage.model_dump(),
            "model": self.model,
            "messages": len(self.messages),
            "waiting": [{"what": w.what, "until": w.until.isoformat()} for w in self.waits],
            "retrying": [r.line() for r in self.retries],
            "error": self.error,
            "last_message": self.last_answer,
            "truncated": self.truncated,
            "tools_dropped": self.tools_dropped,
        }

    def fold_request(self, request: LlmRequest) -> None:
        """Fold a model call's input into the conversation: it carries what is new since
        the previous call, after `known` messages (a new conversation carries them all)."""
        if request.known == 0:
            step = self.messages[self._step_start :]
            if step and request.messages[: len(step)] != step:
                self._step_start = len(self.messages)  # a pipeline's next step
        kept = self.messages[: self._step_start + request.known]
        self.messages = kept + request.messages
        self.model = request.model
        self.turn = max(self.turn, request.turn)

    def fold_reply(self, reply: LlmReply) -> None:
        if reply.spec is not None and not self.model:
            self.model = reply.spec.model  # a first call that named no model ran the agent's
        self.messages.append(reply.message)
        self.llm_calls += 1
        self.usage += reply.usage
        self.tools_dropped = self.tools_dropped or reply.tools_dropped

    @property
    def truncated(self) -> bool:
        """A reply of the run was cut at its length limit."""
        return any(m.truncated for m in self.messages)


async def read_record(
    client: Client, handle: _Handle[Any, Any], described: WorkflowExecutionDescription
) -> Record:
    """The run, from its description and its latest run's history."""
    record = Record(
        workflow_id=described.id,
        name=await listed_agent(described),
        status=run_status(described),
        running=described.status == WorkflowExecutionStatus.RUNNING,
    )
    reader = _Reader(client, record)
    async for event in handle.fetch_history_events():
        await reader.read(event)
    if record.running:
        record.waits = list(reader.timers.values())
    record.retries = await retries(client, described, reader.labels)
    record.labels = reader.labels
    return record


async def retries(
    client: Client, described: WorkflowExecutionDescription, labels: dict[str, str]
) -> list[Retry]:
    """The activities Temporal is retrying, labelled by `labels` (activity id to summary)."""
    found = []
    for pending in described.raw_description.pending_activities:
        if pending.attempt < 2 or not pending.HasField("last_failure"):
            continue
        kind, message = await failure_cause(client, pending.last_failure)
        found.append(
            Retry(
                what=labels.get(pending.activity_id, pending.activity_type.name),
                attempt=pending.attempt,
                maximum_attempts=pending.maximum_attempts,
                error=f"{kind}: {message}",
                next_attempt=pending.next_attempt_schedule_time.ToDatetime(UTC)
                if pending.HasField("next_attempt_schedule_time")
                else None,
            )
        )
    return found


async def labels_of(client: Client, handle: _Handle[Any, Any]) -> dict[str, str]:
    """Each activity's summary by activity id, from the run's history."""
    reader = _Reader(client, None)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            await reader.read(event)
    return reader.labels


async def failure_cause(client: Client, failure: Failure) -> tuple[str, str]:
    """The type and message a failure chain started with (ContextLengthExceeded, not the
    ActivityError around it)."""
    return root_cause(await client.data_converter.decode_failure(failure))


class _Reader:
    """Reads a history event by event into a Record (or only the activity labels)."""

    def __init__(self, client: Client, record: Record | None) -> None:
        self._client = client
        self._record = record
        self._requests: dict[int, LlmRequest] = {}
        self.labels: dict[str, str] = {}
        self.timers: dict[int, Wait] = {}

    async def _decode(self, payloads: list[Payload], kind: type | None = None) -> Any:
        if not payloads:
            return None
        [value] = await self._client.data_converter.decode(payloads, [kind] if kind else None)
        return value

    async def _label(self, event: HistoryEvent) -> str | None:
        if not event.user_metadata.HasField("summary"):
            return None
        label: str = await self._decode([event.user_metadata.summary], str)
        return label

    async def read(self, event: HistoryEvent) -> None:
        kind, record = event.event_type, self._record
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            name = scheduled.activity_type.name
            self.labels[scheduled.activity_id] = await self._label(event) or name
            if record is not None and name == LLM_ACTIVITY:
                request = await self._decode(list(scheduled.input.payloads), LlmRequest)
                self._requests[event.event_id] = request
                record.fold_request(request)
        elif record is None:
            return
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in self._requests:
                record.fold_reply(await self._decode(list(completed.result.payloads), LlmReply))
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            started = event.timer_started_event_attributes
            fires = event.event_time.ToDatetime(UTC) + started.start_to_fire_timeout.ToTimedelta()
            self.timers[event.event_id] = Wait(
                await self._label(event) or "a timer (no label)", fires
            )
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            self.timers.pop(event.timer_fired_event_attributes.started_event_id, None)
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            self.timers.pop(event.timer_canceled_event_attributes.started_event_id, None)
        else:
            await self._ending(event, record)

    async def _ending(self, event: HistoryEvent, record: Record) -> None:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            record.result = await self._decode(
                list(event.workflow_execution_completed_event_attributes.result.payloads)
            )
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            kind_name, message = await failure_cause(self._client, failure)
            record.error = f"{kind_name}: {message}"
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            reason = event.workflow_execution_terminated_event_attributes.reason
            record.error = f"terminated: {reason or 'no reason given'}"
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            record.error = "the run's execution timeout passed"
