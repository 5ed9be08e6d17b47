"""What a follower of a run says from Temporal alone: the calls it retries, and whether a
worker polls (with the run's history while none does)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError

from tether._cli.common import numbered
from tether._cli.history import Retry, labels_of, read_record, retries
from tether._cli.reading import polling

# How often: a describe call and a task queue's description each time.
NOTICE_SECONDS = 2.0


class Notices:
    """What a follower says of a run from Temporal alone, every NOTICE_SECONDS: each
    failed attempt of a call Temporal retries (with the next one's time), and whether a
    worker polls the run's task queue. While none does, the follower stops asking the
    worker, and `check` gives the run's progress lines from its history (unless `quiet`)."""

    def __init__(
        self, client: Client, handle: WorkflowHandle[Any, Any], *, quiet: bool, polling: bool
    ) -> None:
        self._client = client
        self._handle = handle
        self._quiet = quiet
        self._next = 0.0
        self._said: set[tuple[str, int]] = set()
        self._labels: dict[str, str] = {}
        # False: no worker polled when the follower started, and it said so already.
        self.polling = polling

    async def check(self, *, now: bool = False) -> list[str] | None:
        """The run's progress lines from its history when a worker stopped polling (or
        none polled from the start); None otherwise."""
        loop_time = asyncio.get_running_loop().time()
        if loop_time < self._next and not now:
            return None
        self._next = loop_time + NOTICE_SECONDS
        try:
            described = await self._handle.describe()
            was_polling = self.polling
            self.polling = await polling(self._client, described.task_queue)
            for retry in await self._retries(described):
                if (retry.what, retry.attempt) not in self._said:
                    self._said.add((retry.what, retry.attempt))
                    print(f"  ⟳ {retry.line()}", file=sys.stderr, flush=True)
            if self.polling or not was_polling:
                return None
            return await self._from_history(described)
        except RPCError:
            return None  # the server is busy or restarting: next time

    async def _retries(self, described: WorkflowExecutionDescription) -> list[Retry]:
        pending = described.raw_description.pending_activities
        if any(p.activity_id not in self._labels for p in pending if p.attempt > 1):
            self._labels = await labels_of(self._client, self._handle)
        return await retries(self._client, described, self._labels)

    async def _from_history(self, described: WorkflowExecutionDescription) -> list[str]:
        running = described.status == WorkflowExecutionStatus.RUNNING
        print(
            f"  (no worker is polling task queue {described.task_queue!r}"
            + (
                ": the run waits for one; start one with `tether worker --agents MODULE:ATTR`"
                if running
                else ""
            )
            + ". What the run's history says:)",
            file=sys.stderr,
            flush=True,
        )
        record = await read_record(self._client, self._handle, described)
        for wait in record.waits:
            print(f"  ⏸ {wait.line()}", file=sys.stderr, flush=True)
        return [] if self._quiet else [line for _, line in numbered(record.messages) if line]
