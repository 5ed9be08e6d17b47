"""The agent a run recorded, for the activities that act on it.

A run records its agent's spec once, at its start (the `tether.describe_agent` local
activity), and replays against it. The LLM and tool activities must act on that record
too: a run started before a deploy that changed the agent's tools must keep showing the
model the tools it started with. Each request carries the recorded spec's digest; a
worker whose live agent has the same digest (the usual case) uses it as is, and one
whose agent changed reads the recorded spec from the run's history, once per run.
"""

from __future__ import annotations

from collections import OrderedDict

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError

from tether._agents import Agent
from tether._seam import DESCRIBE_AGENT_ACTIVITY, AgentSpec

LOCAL_ACTIVITY_MARKER = "core_local_activity"


class RecordedSpecs:
    """Live specs by agent, recorded ones by run (the latest `max_runs` runs)."""

    def __init__(self, default_model: str, max_runs: int = 1000) -> None:
        self._default_model = default_model
        self._live: dict[str, AgentSpec] = {}
        self._recorded: OrderedDict[tuple[str, str], AgentSpec] = OrderedDict()
        self._max_runs = max_runs

    def live(self, agent: Agent) -> AgentSpec:
        spec = self._live.get(agent.name)
        if spec is None:
            spec = self._live[agent.name] = agent.spec(self._default_model)
        return spec

    async def resolve(self, agent: Agent, digest: str | None) -> AgentSpec:
        """The spec the calling run recorded for `agent` (call inside its activity).

        No digest: a run recorded before digests existed, which used the live agent."""
        live = self.live(agent)
        if digest is None or digest == live.digest:
            return live
        info = activity.info()
        key = (info.workflow_run_id or "", agent.name)
        spec = self._recorded.get(key)
        if spec is None:
            spec = await _from_history(info.workflow_id or "", key[0], agent.name, digest)
            self._recorded[key] = spec
            while len(self._recorded) > self._max_runs:
                self._recorded.popitem(last=False)
        self._recorded.move_to_end(key)
        return spec


async def _from_history(workflow_id: str, run_id: str, agent: str, digest: str) -> AgentSpec:
    client = activity.client()
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != LOCAL_ACTIVITY_MARKER or "result" not in marker.details:
            continue
        # Core writes the marker's own data as plain JSON, outside the payload codec.
        (meta,) = PayloadConverter.default.from_payloads(marker.details["data"].payloads, [dict])
        if meta.get("activity_type") != DESCRIBE_AGENT_ACTIVITY:
            continue
        (spec,) = await client.data_converter.decode(marker.details["result"].payloads, [AgentSpec])
        if spec.name == agent and spec.digest == digest:
            return spec  # type: ignore[no-any-return]
    raise ApplicationError(
        f"the run recorded agent {agent!r} as {digest}, and its history does not hold that "
        "spec; this worker serves a different version of the agent",
        type="AgentChanged",
        non_retryable=True,
    )
