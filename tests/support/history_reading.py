"""Reading a run's model calls back from its history, where Tether records them."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from tether._wire import LLM_ACTIVITY, LlmRequest
from tether.workflow import LlmReply


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
