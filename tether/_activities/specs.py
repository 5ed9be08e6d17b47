"""The agent a run recorded, for the activities that act on it.

A run records its agent's spec once, at its start (with its first model call's reply,
or by the `tether.describe_agent` activity, local or regular), and replays against it.
The LLM and tool activities must act on that record too: a run started before a deploy
that changed the agent's tools must keep showing the model the tools it started with.
Each request carries the recorded spec's digest; a worker whose live agent has the same
digest (the usual case) uses it as is, one that recorded that spec itself (an agent with
MCP tools, listed per run) has it in memory, and any other reads it from the run's
history, once per digest.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError

from tether._agents import Agent
from tether._records import AgentSpec
from tether._trust import ApproverKeys
from tether._wire import DESCRIBE_AGENT_ACTIVITY, LLM_ACTIVITY, LlmReply

LOCAL_ACTIVITY_MARKER = "core_local_activity"


class RecordedSpecs:
    """Live specs by agent, recorded ones by agent and digest (the latest `max_recorded`):
    specs with one digest act alike, whichever run recorded them."""

    def __init__(
        self,
        default_model: str,
        max_recorded: int = 1000,
        approver_keys: ApproverKeys | None = None,
    ) -> None:
        self._default_model = default_model
        self._approver_keys = approver_keys  # the worker's, for agents that name none
        self._live: dict[str, AgentSpec] = {}
        self._recorded: OrderedDict[tuple[str, str], AgentSpec] = OrderedDict()
        self._max_recorded = max_recorded

    def live(self, agent: Agent) -> AgentSpec:
        spec = self._live.get(agent.name)
        if spec is None:
            spec = self._live[agent.name] = agent.spec(self._default_model, self._approver_keys)
        return spec

    async def resolve(self, agent: Agent, digest: str | None) -> AgentSpec:
        """The spec the calling run recorded for `agent` (call inside its activity).

        No digest: a run recorded before digests existed, which used the live agent."""
        live = self.live(agent)
        if digest is None or digest == live.digest:
            return live
        spec = self._recorded.get((agent.name, digest))
        if spec is None:
            info = activity.info()
            spec = await _from_history(
                info.workflow_id or "", info.workflow_run_id or "", agent.name, digest
            )
        self.remember(spec)
        return spec

    def remember(self, spec: AgentSpec) -> None:
        """Keep a spec a run recorded, for the activities that act on it."""
        key = (spec.name, spec.digest or "")
        self._recorded[key] = spec
        self._recorded.move_to_end(key)
        while len(self._recorded) > self._max_recorded:
            self._recorded.popitem(last=False)


async def _from_history(workflow_id: str, run_id: str, agent: str, digest: str) -> AgentSpec:
    client = activity.client()
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    describes: set[int] = set()  # event ids of describe activities scheduled
    model_calls: set[int] = set()  # and of model calls, the first of which may hold it
    async for event in handle.fetch_history_events():
        recorded: Sequence[Payload] | None = None
        spec: AgentSpec | None = None
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == DESCRIBE_AGENT_ACTIVITY:
                describes.add(event.event_id)
            elif scheduled.activity_type.name == LLM_ACTIVITY and not model_calls:
                model_calls.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in describes:
                recorded = completed.result.payloads
            elif completed.scheduled_event_id in model_calls:
                (reply,) = await client.data_converter.decode(completed.result.payloads, [LlmReply])
                spec = reply.spec
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            recorded = _described_locally(event.marker_recorded_event_attributes)
        if recorded is not None:
            (spec,) = await client.data_converter.decode(recorded, [AgentSpec])
        if spec is not None and spec.name == agent and spec.digest == digest:
            return spec
    raise ApplicationError(
        f"the run recorded agent {agent!r} as {digest}, and its history does not hold that "
        "spec; this worker serves a different version of the agent",
        type="AgentChanged",
        non_retryable=True,
    )


def _described_locally(marker: MarkerRecordedEventAttributes) -> Sequence[Payload] | None:
    """The result of a describe local activity, or None for any other marker."""
    if marker.marker_name != LOCAL_ACTIVITY_MARKER or "result" not in marker.details:
        return None
    # Core writes the marker's own data as plain JSON, outside the payload codec.
    (meta,) = PayloadConverter.default.from_payloads(marker.details["data"].payloads, [dict])
    if meta.get("activity_type") != DESCRIBE_AGENT_ACTIVITY:
        return None
    return marker.details["result"].payloads
