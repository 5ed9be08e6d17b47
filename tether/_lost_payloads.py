"""A payload a run's history refers to, gone from the store it was written to: the run
ends, saying why, instead of failing its workflow task forever.

A worker that reads a run's history back (a restart, another worker of the fleet)
decodes every payload in it before the workflow code runs; one that cannot be had fails
that workflow task, and the next attempt fails the same way, forever. No workflow code
can step in (the history cannot be replayed without it), so the worker ends the run
itself: it terminates it with PAYLOAD_LOST and the store's explanation as the reason,
which `tether status` shows. Only a payload known lost does this (the file store tells
one from a worker pointed at another directory, which stays a retried error).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import structlog
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    ExternalStorage,
    SerializationContext,
    StorageDriverWorkflowInfo,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

log = structlog.get_logger("tether.storage")

PAYLOAD_LOST = "PayloadLost"


class PayloadLost(ApplicationError):
    """A payload is gone from the store it was written to (or no longer what was
    written). Non-retryable: no attempt will find it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type=PAYLOAD_LOST, non_retryable=True)


@dataclasses.dataclass(frozen=True)
class RunAwareStorage(ExternalStorage, WithSerializationContext):
    """The SDK's ExternalStorage, which knows the workflow whose payloads it reads (the
    worker gives each activation's converter its context): a payload lost there ends
    that workflow's run."""

    workflow_id: str | None = None

    def with_context(self, context: SerializationContext) -> RunAwareStorage:
        # A workflow's payloads, or those of its activities (a result in its history).
        if not isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            return self
        return dataclasses.replace(self, workflow_id=context.workflow_id)

    async def _retrieve_payload_sequence(self, payloads: Sequence[Payload]) -> list[Payload]:
        try:
            return await super()._retrieve_payload_sequence(payloads)
        except PayloadLost as e:
            target = self._store_context.target
            run_id = target.run_id if isinstance(target, StorageDriverWorkflowInfo) else None
            if self.workflow_id:
                for end in _enders:
                    end(self.workflow_id, run_id, e.message)
            raise


_enders: list[_Ender] = []


class _Ender:
    """Terminates each run once, with the client of the worker that found the loss."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._ended: set[tuple[str, str | None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, workflow_id: str, run_id: str | None, why: str) -> None:
        if (workflow_id, run_id) in self._ended:
            return
        self._ended.add((workflow_id, run_id))
        task = asyncio.get_running_loop().create_task(self._terminate(workflow_id, run_id, why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _terminate(self, workflow_id: str, run_id: str | None, why: str) -> None:
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            await handle.terminate(reason=f"{PAYLOAD_LOST}: {why}")
        except RPCError as e:  # ended meanwhile, or Temporal unreachable: said in the log
            log.warning("could not end a run whose payload is lost", error=e.message)
            return
        log.error("run ended: a payload of its history is lost", workflow_id=workflow_id)


def ending_runs_with_lost_payloads(client: Client) -> _Ender:
    """From now on, runs whose payloads this process finds lost are terminated with
    `client` (a worker's); remove the returned ender with `stop_ending`."""
    ender = _Ender(client)
    _enders.append(ender)
    return ender


def stop_ending(ender: _Ender) -> None:
    _enders.remove(ender)
