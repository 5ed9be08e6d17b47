"""Reading a run back from its history: its model calls, where Tether records them, and
the activities that were retried."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from tether._wire import LLM_ACTIVITY, LlmRequest
from tether.workflow import LlmReply

M = TypeVar("M", bound=BaseModel)
# The signal a Workflow Stream publishes a run's events with (text, as it is written).
PUBLISH_SIGNAL = "__temporal_workflow_stream_publish"


async def model_calls(handle: WorkflowHandle) -> list[tuple[LlmRequest, LlmReply | None]]:  # type: ignore[type-arg]
    """Each LLM activity's input as recorded, with its result (None if it failed)."""
    converter = handle._client.data_converter
    requests: dict[int, LlmRequest] = {}
    replies: dict[int, LlmReply] = {}
    for event in (await handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == LLM_ACTIVITY:
                (requests[event.event_id],) = await converter.decode(
                    scheduled.input.payloads, [LlmRequest]
                )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in requests:
                (replies[completed.scheduled_event_id],) = await converter.decode(
                    completed.result.payloads, [LlmReply]
                )
    return [(request, replies.get(event_id)) for event_id, request in requests.items()]


async def model_replies(handle: WorkflowHandle) -> list[LlmReply]:  # type: ignore[type-arg]
    """The replies of the run's model calls that succeeded, in order."""
    return [reply for _, reply in await model_calls(handle) if reply is not None]


async def retried_activities(run: WorkflowHandle[Any, Any]) -> list[tuple[str, int]]:
    """(activity type, attempt) of every activity that completed on a retry."""
    events = (await run.fetch_history()).events
    kinds = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    started = [
        e.activity_task_started_event_attributes
        for e in events
        if e.HasField("activity_task_started_event_attributes")
    ]
    return [(kinds[s.scheduled_event_id], s.attempt) for s in started if s.attempt > 1]


async def task_failed(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether a workflow task of the run failed (its worker refused what it was sent)."""
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    return any([e.event_type == failed async for e in handle.fetch_history_events()])


async def scheduled_inputs(
    handle: WorkflowHandle[Any, Any], activity: str, model: type[M]
) -> list[M]:
    """The input of each `activity` the run scheduled, as recorded, in order."""
    converter = handle._client.data_converter
    found: list[M] = []
    for event in (await handle.fetch_history()).events:
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == activity:
            (value,) = await converter.decode(scheduled.input.payloads, [model])
            found.append(value)
    return found
