"""What a run did and cost, read from its history: model calls and tokens, tool calls and
their answers, decisions, Temporal actions and the history's size, and how it ended.
Its children's histories count too (a pipeline's `run_agent` steps, an agent's
sub-agents), and the runs a conversation continued as new into.

The history is the record: what a run did is read from it rather than from what the
run reports of itself, so any workflow that takes a prompt can be evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from tether._evals.model import ApprovalRecord, RunFacts, ToolEffect
from tether._messages import Usage
from tether._wire import LLM_ACTIVITY, MCP_TOOL_ACTIVITY, TOOL_ACTIVITY

# Child runs followed below a case's run (a sub-agent's sub-agent's ...).
MAX_DEPTH = 4
TOOL_ACTIVITIES = (TOOL_ACTIVITY, MCP_TOOL_ACTIVITY)
LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"  # a version marker: no action of its own
# Events Temporal Cloud bills as an action each (its "Actions" list, as far as a history
# shows them): starts, activity attempts, timers, signals, updates, child starts, search
# attribute and memo upserts, side effects. Queries and heartbeats leave no event and
# are not counted; local activities count once per workflow task that ran any.
ACTION_EVENTS = {
    "workflow_execution_started_event_attributes",
    "timer_started_event_attributes",
    "workflow_execution_signaled_event_attributes",
    "signal_external_workflow_execution_initiated_event_attributes",
    "start_child_workflow_execution_initiated_event_attributes",
    "workflow_execution_update_accepted_event_attributes",
    "upsert_workflow_search_attributes_event_attributes",
    "workflow_properties_modified_event_attributes",
}
ENDINGS = {
    "workflow_execution_completed_event_attributes": "completed",
    "workflow_execution_failed_event_attributes": "failed",
    "workflow_execution_timed_out_event_attributes": "timed_out",
    "workflow_execution_canceled_event_attributes": "cancelled",
    "workflow_execution_terminated_event_attributes": "terminated",
}


@dataclass
class _Reading:
    """What the events of one workflow (and its children) added up to so far."""

    facts: RunFacts
    costs: list[float | None] = field(default_factory=list)
    scheduled: dict[int, tuple[str, list[Payload]]] = field(default_factory=dict)
    children: list[tuple[str, str]] = field(default_factory=list)


async def read_run(client: Client, workflow_id: str) -> tuple[RunFacts, Any]:
    """The facts of the run `workflow_id` (its first run and those it continued as
    new into) and its result (None unless it completed)."""
    reading = _Reading(RunFacts(status="running", workflows=0))
    result = await _read(client, workflow_id, None, reading, depth=0)
    facts = reading.facts
    if reading.costs and all(c is not None for c in reading.costs):
        facts.worker_cost_usd = round(sum(c for c in reading.costs if c is not None), 8)
    # Rebuilt whole: Tether's converter leaves out fields never assigned, and the lists
    # and usages above were filled in place.
    return RunFacts.model_validate(facts.model_dump()), result


async def _read(
    client: Client, workflow_id: str, run_id: str | None, reading: _Reading, *, depth: int
) -> Any:
    """Add one workflow's history (and its continued runs' and children's) to
    `reading`; the result of its last run if this is the case's own run."""
    result: Any = None
    facts = reading.facts
    own = depth == 0
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = list(history.events)
        facts.workflows += 1
        facts.history_events += len(events)
        facts.history_bytes += sum(e.ByteSize() for e in events)
        if own and events:
            facts.seconds += _seconds(events[0], events[-1])
        local_tasks: set[int] = set()
        for event in events:
            await _event(client, event, reading, local_tasks)
        facts.actions += len(local_tasks)
        last = events[-1] if events else None
        kind = last.WhichOneof("attributes") if last is not None else None
        if kind == "workflow_execution_continued_as_new_event_attributes" and last is not None:
            facts.actions += 1
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            continue
        if own and last is not None and kind is not None:
            result = await _ending(client, last, kind, facts)
        break
    if depth < MAX_DEPTH:
        children, reading.children = reading.children, []
        for child_id, child_run in children:
            await _read(client, child_id, child_run, reading, depth=depth + 1)
    return result


async def _event(
    client: Client, event: HistoryEvent, reading: _Reading, local_tasks: set[int]
) -> None:
    facts = reading.facts
    kind = event.WhichOneof("attributes")
    if kind in ACTION_EVENTS:
        facts.actions += 1
    if kind == "activity_task_scheduled_event_attributes":
        scheduled = event.activity_task_scheduled_event_attributes
        reading.scheduled[event.event_id] = (
            scheduled.activity_type.name,
            list(scheduled.input.payloads),
        )
    elif kind == "activity_task_started_event_attributes":
        facts.actions += max(event.activity_task_started_event_attributes.attempt, 1)
    elif kind == "activity_task_completed_event_attributes":
        completed = event.activity_task_completed_event_attributes
        name, inputs = reading.scheduled.get(completed.scheduled_event_id, ("", []))
        await _completed(client, name, inputs, list(completed.result.payloads), reading)
    elif kind == "marker_recorded_event_attributes":
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == LOCAL_ACTIVITY_MARKER:
            local_tasks.add(marker.workflow_task_completed_event_id)
            await _local_activity(client, dict(marker.details), reading)
        elif marker.marker_name != PATCH_MARKER:
            facts.actions += 1  # a side effect
    elif kind == "child_workflow_execution_started_event_attributes":
        execution = event.child_workflow_execution_started_event_attributes.workflow_execution
        reading.children.append((execution.workflow_id, execution.run_id))
    elif kind == "workflow_execution_update_accepted_event_attributes":
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name == "decide" and request.input.args.payloads:
            decision = await _decode(client, request.input.args.payloads[0])
            if isinstance(decision, dict):
                facts.approvals.append(
                    ApprovalRecord(
                        call_id=str(decision.get("call_id") or ""),
                        approve=bool(decision.get("approve")),
                        approver=decision.get("approver"),
                        signed=bool(decision.get("signature")),
                    )
                )


async def _completed(
    client: Client, name: str, inputs: list[Payload], results: list[Payload], reading: _Reading
) -> None:
    """A regular activity's result: a model call's usage, or a tool call and its answer."""
    if name == LLM_ACTIVITY and results:
        request = await _decode(client, inputs[0]) if inputs else None
        model = request.get("model") if isinstance(request, dict) else None
        reply = await _decode(client, results[0])
        spec = reply.get("spec") if isinstance(reply, dict) else None
        if not model and isinstance(spec, dict):
            model = spec.get("model")  # a first call that named no model ran the agent's
        _llm_call(reading, model, reply)
    elif name in TOOL_ACTIVITIES and inputs and results:
        request, outcome = await _decode(client, inputs[0]), await _decode(client, results[0])
        call = request.get("call") if isinstance(request, dict) else None
        if isinstance(call, dict) and isinstance(outcome, dict):
            reading.facts.tool_calls.append(
                ToolEffect(
                    name=str(call.get("name", "")),
                    arguments=str(call.get("arguments", "")),
                    content=str(outcome.get("content", "")),
                    error=outcome.get("error"),
                )
            )


async def _local_activity(client: Client, details: dict[str, Any], reading: _Reading) -> None:
    """A local activity's marker: its type is in `data`, its result in `result` (its
    input is not recorded, so a fast tool's call shows as a model's request only)."""
    data = await _decode(client, details["data"].payloads[0]) if "data" in details else None
    activity_type = data.get("activity_type") if isinstance(data, dict) else None
    result = details.get("result")
    if activity_type == LLM_ACTIVITY and result is not None and result.payloads:
        _llm_call(reading, None, await _decode(client, result.payloads[0]))


def _llm_call(reading: _Reading, model: str | None, reply: Any) -> None:
    facts = reading.facts
    facts.llm_calls += 1
    if not isinstance(reply, dict):
        return
    usage = Usage.model_validate(reply.get("usage") or {})
    facts.usage += usage
    name = model or "unknown"
    facts.models[name] = facts.models.get(name, Usage()) + usage
    cost = reply.get("cost_usd")
    reading.costs.append(float(cost) if isinstance(cost, int | float) else None)


async def _ending(client: Client, last: HistoryEvent, kind: str, facts: RunFacts) -> Any:
    """How the case's run ended: its status, its failure's kind, and its result."""
    status = ENDINGS.get(kind, "running")
    facts.status = status
    if kind == "workflow_execution_failed_event_attributes":
        facts.failure = _failure_kind(last.workflow_execution_failed_event_attributes.failure)
        return None
    if status != "completed":
        facts.failure = status if status != "running" else None
        return None
    payloads = last.workflow_execution_completed_event_attributes.result.payloads
    result = await _decode(client, payloads[0]) if payloads else None
    if isinstance(result, dict) and isinstance(result.get("status"), str) and "turns" in result:
        # An agent's result: its status says whether it completed or hit a budget.
        facts.status = result["status"]
        facts.failure = None if facts.status == "completed" else facts.status
    elif isinstance(result, dict) and isinstance(result.get("outcome"), str):
        facts.status = result["outcome"]  # a pipeline that names its outcome
    elif isinstance(result, str) and result and len(result) <= 40:
        facts.status = result  # a pipeline that returns its outcome
    return result


def _failure_kind(failure: Failure) -> str:
    """The type of the failure's innermost application error (`UnknownAgent`,
    `InvalidOutput`, ...), else that of a timeout, else `failed`."""
    kind = "failed"
    while True:
        if failure.HasField("application_failure_info") and failure.application_failure_info.type:
            kind = failure.application_failure_info.type
        elif failure.HasField("timeout_failure_info"):
            kind = "timeout"
        if not failure.HasField("cause"):
            return kind
        failure = failure.cause


async def _decode(client: Client, payload: Payload) -> Any:
    """A payload as JSON values (through the client's codec, if it has one)."""
    converter = client.data_converter
    if converter.payload_codec is not None:
        [payload] = await converter.payload_codec.decode([payload])
    try:
        return json.loads(payload.data) if payload.data else None
    except ValueError:
        return None


def _seconds(first: HistoryEvent, last: HistoryEvent) -> float:
    start = first.event_time.ToDatetime()
    end = last.event_time.ToDatetime()
    return max((end - start).total_seconds(), 0.0)
