"""The conversations a worker sends to models, so the workflow sends only what is new.

Each LLM activity's input lands in the run's history, so sending the whole conversation
every turn would make history grow with the square of the turns. An `LlmRequest`
carries the messages added since the run's previous model call, and `known`, how many
came before them. The worker keeps
each run's conversation here. A worker that has not seen the run (a restart, another
worker of the fleet, an evicted entry) rebuilds it from the run's history: the earlier
requests, folded in order, are the conversation.
"""

from __future__ import annotations

from collections import OrderedDict

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError

from tether._logs import get_logger
from tether._messages import Message
from tether._wire import CONVERSATION_LOST, LLM_ACTIVITY, LlmReply, LlmRequest

log = get_logger("tether.llm")


class Conversations:
    """The latest conversation of up to `max_runs` runs, least recently used dropped."""

    def __init__(self, max_runs: int = 1000) -> None:
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self._max_runs = max_runs
        self._runs: OrderedDict[str, list[Message]] = OrderedDict()

    async def messages(self, request: LlmRequest) -> tuple[list[Message], bool]:
        """The whole conversation `request` continues (call inside its activity), and
        whether it had to be read back from history (this worker did not hold it)."""
        info = activity.info()
        # Keyed by run: a continued-as-new run starts over with `known` 0.
        key = info.workflow_run_id or ""
        known = self._runs.get(key, []) if request.known else []
        rebuilt = len(known) < request.known
        if rebuilt:
            known = await _rebuild(info.workflow_id or "", key)
        if len(known) < request.known:
            raise ApplicationError(
                f"the run's history holds {len(known)} messages before this call, "
                f"the workflow says {request.known}",
                type=CONVERSATION_LOST,
                non_retryable=True,
            )
        # Append-only per run, so a prefix is always right: a retry or a fallback model
        # repeats a call with the same `known` after the longer list was stored.
        conversation = known[: request.known] + request.messages
        self._runs[key] = conversation
        self._runs.move_to_end(key)
        while len(self._runs) > self._max_runs:
            self._runs.popitem(last=False)
        return conversation, rebuilt


async def _rebuild(workflow_id: str, run_id: str) -> list[Message]:
    client = activity.client()
    converter = client.data_converter
    conversation: list[Message] = []
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    read = 0
    first: int | None = None  # the event id of a first call (LlmRequest.first)
    async for event in handle.fetch_history_events():
        read += event.ByteSize()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id == first:
                # The agent's instructions, sent first, are in the spec of its reply.
                (reply,) = await converter.decode(completed.result.payloads, [LlmReply])
                if reply.spec is not None:
                    conversation.insert(0, Message.system(reply.spec.instructions))
            continue
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name != LLM_ACTIVITY:
            continue
        (earlier,) = await converter.decode(scheduled.input.payloads, [LlmRequest])
        conversation = conversation[: earlier.known] + earlier.messages
        if earlier.first:
            first = event.event_id
    # Counted, since a fleet whose calls keep missing the worker that holds a run's
    # conversation reads its history again and again (dev.py bench --fleet).
    log.info("conversation rebuilt", messages=len(conversation), history_bytes=read)
    return conversation
