"""Reading runs for the pages: who a run is for (its start input), which runs wait for
a person (Temporal's visibility: `AgentStatus` `awaiting_approval` or `awaiting_answer`),
and what each waiting call or question shows (its `state` and `transcript` queries)."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from tether._logs import get_logger
from tether._messages import Message
from tether._run_io import PendingApproval, PendingQuestion, RunState
from tether._search_attributes import AGENT_STATUS
from tether._transcripts import TRANSCRIPT_PAGE_QUERY, TranscriptPage
from tether._visibility import AGENT_NAME_KEY
from tether._web.access import AccessRule, RunInfo, WebUser

log = get_logger("tether.web")
WAITING_QUERY = (
    f"({AGENT_STATUS} = 'awaiting_approval' OR {AGENT_STATUS} = 'awaiting_answer')"
    " AND ExecutionStatus = 'Running'"
)
# At most this many runs are read for one inbox or list: each costs queries.
MAX_RUNS = 200
CONTEXT_MESSAGES = 4  # the last messages shown beside a waiting call
CONCURRENT_READS = 8
QUERY_SECONDS = 5.0


class RunDirectory:
    """What the pages know of runs; start inputs are cached (they never change)."""

    def __init__(self, client: Client, rule: AccessRule, cache_size: int = 10_000) -> None:
        self.client = client
        self.rule = rule
        # None: a run whose input this app cannot read (asked once, shown to nobody).
        self._infos: OrderedDict[str, RunInfo | None] = OrderedDict()
        self._cache_size = cache_size
        self._reads = asyncio.Semaphore(CONCURRENT_READS)

    async def visible(self, user: WebUser, workflow_id: str) -> RunInfo | None:
        """The run if `user` may see it; None if not, or if there is no such run (a
        page says the same for both, so it tells nobody which runs exist)."""
        info = await self.info(workflow_id)
        return info if info is not None and self.rule(user, info) else None

    async def info(self, workflow_id: str, agent: str | None = None) -> RunInfo | None:
        if workflow_id in self._infos:
            return self._infos[workflow_id]
        first = await self._first_event(workflow_id)
        if first is None:
            return None
        started = first.workflow_execution_started_event_attributes
        payloads = started.input.payloads
        try:
            values = await self.client.data_converter.decode(payloads) if payloads else []
        except Exception:
            # Sealed with a key this app lacks, or an encoding it does not know: who the
            # run acts for is unreadable too, so it is shown to nobody (and fails no page).
            log.warning("a run's input cannot be read here", workflow_id=workflow_id)
            return self._remember(workflow_id, None)
        given: dict[str, Any] = values[0] if values and isinstance(values[0], dict) else {}
        info = RunInfo(
            workflow_id=workflow_id,
            agent=agent or str(given.get("agent") or started.workflow_type.name),
            acting_for=_text(given.get("acting_for")),
            started_by=_text(given.get("started_by")),
            started_at=first.event_time.ToDatetime(tzinfo=UTC),
            chat=given.get("chat") is True,
        )
        return self._remember(workflow_id, info)

    def _remember(self, workflow_id: str, info: RunInfo | None) -> RunInfo | None:
        self._infos[workflow_id] = info
        if len(self._infos) > self._cache_size:
            self._infos.popitem(last=False)
        return info

    async def _first_event(self, workflow_id: str) -> Any:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=self.client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            maximum_page_size=1,
        )
        try:
            history = await self.client.workflow_service.get_workflow_execution_history(request)
        except RPCError:
            return None  # no such run (or not readable): shown as not found
        return history.history.events[0] if history.history.events else None

    async def listed(self, user: WebUser, query: str | None) -> list[RunInfo]:
        """The runs `query` finds (None: the latest) that `user` may see, newest first."""
        found: list[RunInfo] = []
        async for run in self.client.list_workflows(query, limit=MAX_RUNS):
            agent = run.typed_search_attributes.get(AGENT_NAME_KEY)
            info = await self.info(run.id, agent)
            if info is not None and self.rule(user, info):
                found.append(info)
        found.sort(key=lambda i: i.started_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return found

    async def waiting(self, user: WebUser) -> Waiting:
        """Every call and every question that waits for a person in the runs `user` may
        see, oldest first."""
        runs = await self.listed(user, WAITING_QUERY)
        read = await asyncio.gather(*(self._waiting_in(run) for run in runs))
        calls = sorted((c for found in read for c in found.calls), key=lambda c: c.since)
        asked = sorted((q for found in read for q in found.questions), key=lambda q: q.since)
        return Waiting(calls, asked)

    async def _waiting_in(self, run: RunInfo) -> Waiting:
        async with self._reads:
            handle = self.client.get_workflow_handle(run.workflow_id)
            try:
                async with asyncio.timeout(QUERY_SECONDS):
                    state = await handle.query("state", result_type=RunState)
                    if not (state.pending_approvals or state.pending_questions):
                        return Waiting([], [])
                    first = await _page(handle, 0)
                    last = await _page(handle, state.messages - CONTEXT_MESSAGES)
            except (RPCError, WorkflowQueryFailedError, TimeoutError):
                return Waiting([], [])  # no worker answers now: the run shows once one does
        prompt = next((m.content for m in first if m.role == "user"), None)
        context = last[-CONTEXT_MESSAGES:]
        return Waiting(
            [WaitingCall(run, call, prompt, context) for call in state.pending_approvals],
            [WaitingQuestion(run, asked, prompt, context) for asked in state.pending_questions],
        )

    async def pending(self, workflow_id: str) -> list[PendingApproval]:
        return (await self.state(workflow_id)).pending_approvals

    async def questions(self, workflow_id: str) -> list[PendingQuestion]:
        return (await self.state(workflow_id)).pending_questions

    async def state(self, workflow_id: str) -> RunState:
        handle = self.client.get_workflow_handle(workflow_id)
        state: RunState = await handle.query("state", result_type=RunState)
        return state


async def _page(handle: WorkflowHandle[Any, Any], start: int) -> list[Message]:
    """The run's messages from `start` on (a page, as the transcript query pages them:
    a person reads the prompt and the last messages, never a whole long transcript)."""
    page: TranscriptPage = await handle.query(
        TRANSCRIPT_PAGE_QUERY, max(start, 0), result_type=TranscriptPage
    )
    return page.messages


def waited(since: datetime, now: datetime) -> str:
    """How long something has waited, for a person: `40 s`, `12 min`, `3 h`, `2 d`."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True)
class WaitingCall:
    """A call that waits for a person, with what they decide on."""

    run: RunInfo
    call: PendingApproval
    prompt: str | None
    last_messages: Sequence[Message]

    @property
    def since(self) -> datetime:
        """When it started waiting (for runs that do not say: when the run started)."""
        return self.call.since or self.run.started_at or datetime.now(UTC)

    def waited(self, now: datetime) -> str:
        return waited(self.since, now)

    @property
    def arguments(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.call.arguments)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def pretty_arguments(self) -> str:
        """The complete arguments, one field a line (as they will run)."""
        value = self.arguments
        if value is None:
            return self.call.arguments
        return json.dumps(value, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class WaitingQuestion:
    """A question an agent asked a person, with what they answer from."""

    run: RunInfo
    question: PendingQuestion
    prompt: str | None
    last_messages: Sequence[Message]

    @property
    def since(self) -> datetime:
        return self.question.since

    def waited(self, now: datetime) -> str:
        return waited(self.since, now)


@dataclass(frozen=True)
class Waiting:
    """What waits for a person in the runs one person may see."""

    calls: list[WaitingCall]
    questions: list[WaitingQuestion]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
