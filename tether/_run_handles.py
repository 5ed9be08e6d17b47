"""Reaching Temporal for a run: its start under an id no run had before, its first run
id (which a signed decision names) and its transcript, page by page. `AgentRun`, the
pipeline starter and the evaluations build on these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from tether._events import WATCH_SIGNAL
from tether._messages import Message
from tether._settings import task_queue as default_task_queue
from tether._transcripts import TRANSCRIPT_PAGE_QUERY, TranscriptPage, read_pages


class RunExists(ValueError):
    """A run with that workflow id exists already (an id names one conversation)."""


async def first_run_id(handle: WorkflowHandle[Any, Any]) -> str:
    """The first run id of the handle's workflow (a chat's continued runs share it),
    which a signed decision names."""
    if handle.first_execution_run_id:
        return handle.first_execution_run_id
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.first_run_id


async def transcript_of(handle: WorkflowHandle[Any, Any]) -> list[Message]:
    async def page(start: int) -> TranscriptPage:
        found: TranscriptPage = await handle.query(
            TRANSCRIPT_PAGE_QUERY, start, result_type=TranscriptPage
        )
        return found

    try:
        messages = await read_pages(page)
    except WorkflowQueryFailedError as e:
        if "unknown queryType" not in e.message:
            raise
        # A worker of a Tether before pages: its whole transcript in one answer.
        whole: list[Message] = await handle.query("transcript", result_type=list[Message])
        return whole
    assert messages is not None  # `page` raises rather than give none
    return messages


async def start_workflow(
    client: Client,
    workflow: str,
    params: Any,
    *,
    id: str,
    task_queue: str | None,
    summary: str,
    details: str,
    result_type: type | None = None,
    watch: bool = False,
    memo: Mapping[str, Any] | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start `workflow` under an id no run had before (an id names one conversation);
    `watch` sends a subscriber's announcement with the start."""
    try:
        return await client.start_workflow(
            workflow,
            params,
            id=id,
            task_queue=task_queue or default_task_queue(),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=summary,
            static_details=details,
            result_type=result_type,
            start_signal=WATCH_SIGNAL if watch else None,
            memo=memo,
        )
    except WorkflowAlreadyStartedError:
        raise RunExists(f"a run with id {id!r} already exists; choose another id") from None
