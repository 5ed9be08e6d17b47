"""Asking a run's worker about it, briefly: whether one polls the run's task queue, and
its queries with a deadline of a few seconds (a query waits for a worker otherwise, for
as long as the server lets it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from pydantic import TypeAdapter, ValidationError
from temporalio.api.enums.v1 import TaskQueueType, VersioningBehavior, WorkerStatus
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from tether._messages import Message
from tether._run_io import RunState
from tether._transcripts import TRANSCRIPT_PAGE_QUERY, TranscriptPage, read_pages
from tether._workflows.pipeline import PipelineState

QUERY_SECONDS = 3.0
T = TypeVar("T")
# What every Tether run type's `state` query answers: an agent's or a pipeline's state.
AnyState = RunState | PipelineState
STATES: TypeAdapter[AnyState] = TypeAdapter(AnyState)
GONE = (WorkerStatus.WORKER_STATUS_SHUTTING_DOWN, WorkerStatus.WORKER_STATUS_SHUTDOWN)


class Build(NamedTuple):
    """The Worker Deployment build a run is pinned to (Worker Versioning)."""

    deployment: str
    build_id: str

    def __str__(self) -> str:
        return f"{self.build_id} of deployment {self.deployment}"


def pinned_build(described: WorkflowExecutionDescription) -> Build | None:
    """The build the run is pinned to, if it is (a versioned worker started it)."""
    info = described.raw_description.workflow_execution_info.versioning_info
    version = info.deployment_version
    if info.behavior != VersioningBehavior.VERSIONING_BEHAVIOR_PINNED or not version.build_id:
        return None
    return Build(version.deployment_name, version.build_id)


async def polling(client: Client, task_queue: str, build: Build | None = None) -> bool:
    """Whether a worker polls `task_queue` for workflow tasks (with `build`, a worker of
    that build: only those serve a run pinned to it). The server lists a poller for
    minutes after it was last seen; one whose worker said it shut down after that poll
    is left out (a killed worker cannot say so: a query to it then times out)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    gone = await _shut_down(client, task_queue)
    return any(
        (p.identity not in gone or p.last_access_time.ToDatetime() > gone[p.identity])
        and (build is None or _of_build(p, build))
        for p in response.pollers
    )


def _of_build(poller: PollerInfo, build: Build) -> bool:
    options = poller.deployment_options
    return (options.deployment_name, options.build_id) == (build.deployment, build.build_id)


async def _shut_down(client: Client, task_queue: str) -> dict[str, datetime]:
    """When each worker of `task_queue` that said it shut down said so, by identity (a
    worker restarted under the same identity polls after that)."""
    try:
        response = await client.workflow_service.list_workers(
            ListWorkersRequest(namespace=client.namespace, page_size=1000)
        )
    except RPCError:
        return {}  # a server without worker heartbeats: trust the poller list
    return {
        beat.worker_identity: beat.heartbeat_time.ToDatetime()
        for beat in (w.worker_heartbeat for w in response.workers_info)
        if beat.task_queue == task_queue and beat.status in GONE
    }


async def ask(
    handle: WorkflowHandle[Any, Any], query: str, result_type: type[T], *args: Any
) -> T | None:
    """The answer to `query`, or None if no worker gave one within QUERY_SECONDS (or the
    run's workflow has no such query)."""
    try:
        answer: T = await handle.query(
            query, *args, result_type=result_type, rpc_timeout=timedelta(seconds=QUERY_SECONDS)
        )
    except WorkflowQueryFailedError:
        return None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise  # no such run: the caller says so
        return None
    return answer


async def ask_state(handle: WorkflowHandle[Any, Any]) -> AnyState | None:
    """The run's `state`: an agent's RunState or a pipeline's PipelineState."""
    raw = await ask(handle, "state", dict)
    if raw is None:
        return None
    try:
        return STATES.validate_python(raw)
    except ValidationError:
        return None  # a workflow of another kind, with a `state` query of its own


async def ask_transcript(handle: WorkflowHandle[Any, Any]) -> list[Message] | None:
    """The run's transcript, page by page (as `AgentRun.transcript` reads it); a worker
    of a Tether before pages answers the whole in one."""

    async def page(start: int) -> TranscriptPage | None:
        return await ask(handle, TRANSCRIPT_PAGE_QUERY, TranscriptPage, start)

    paged = await read_pages(page)
    return paged if paged is not None else await ask(handle, "transcript", list[Message])


async def ask_conversation(
    client: Client, handle: WorkflowHandle[Any, Any]
) -> list[Message] | None:
    """Every message of the run's conversation: first those of the earlier runs a chat
    with a context policy left them in (closed runs answer queries too), then the run's
    own; None if a worker did not answer."""
    state = await ask_state(handle)
    messages: list[Message] = []
    for run_id in state.earlier_runs if isinstance(state, RunState) else []:
        earlier = await ask_transcript(client.get_workflow_handle(handle.id, run_id=run_id))
        if earlier is None:
            return None
        messages += earlier
    latest = await ask_transcript(handle)
    return None if latest is None else messages + latest
