"""Starting, resuming and following an evaluation, and the worker that runs it.

The evaluation's workflow, its scoring and its approver run on a worker of the process
that follows it (`tether eval`), on a task queue of the evaluation's own: that process
holds the evaluators and the signing key. The cases run where their targets' workers
poll (or, given a registry, on the same worker). A resumed evaluation reads what it
was started with from its history, so it scores with the dataset it started with.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import Worker

from tether._agents import AgentRegistry
from tether._evals.activities import EvalActivities
from tether._evals.dataset import LoadedDataset, evaluator_types, parse_dataset
from tether._evals.judge import JUDGE
from tether._evals.model import (
    EVAL_APPROVER,
    EVAL_WORKFLOW,
    MAX_RUNS,
    CaseResult,
    EvalInput,
    EvalProgress,
    Target,
)
from tether._evals.workflow import EvalWorkflow
from tether._settings import ConfigurationError, LlmSettings
from tether._signing import Signer
from tether._trust import ApproverKeys
from tether._worker import create_worker

POLL_SECONDS = 0.5
STATE_DIR_VARIABLE = "TETHER_STATE_DIR"
Progress = Callable[[EvalProgress], None]


def eval_queue(eval_id: str) -> str:
    return f"tether-eval.{eval_id}"


def key_path(eval_id: str) -> Path:
    """Where an evaluation that serves its targets itself keeps its signing key, so a
    resumed one signs with the key its runs trust."""
    state = Path(os.environ.get(STATE_DIR_VARIABLE) or ".tether")
    return state / "evals" / f"{eval_id}.key"


def own_signer(eval_id: str) -> Signer:
    """The evaluation's own key (made on first use, mode 0600)."""
    path = key_path(eval_id)
    if path.exists():
        return Signer.from_file(path, name=EVAL_APPROVER)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return Signer.generate(path, name=EVAL_APPROVER)
    except FileExistsError:  # another process of this evaluation made it first
        return Signer.from_file(path, name=EVAL_APPROVER)


@dataclass(frozen=True)
class Serving:
    """What an evaluation's worker serves besides the evaluation: the targets' agents
    and workflows (a registry), and where their model calls and the judge's go."""

    registry: AgentRegistry | None = None
    llm: LlmSettings | None = None
    signer: Signer | None = None

    @property
    def approver(self) -> str:
        """The name its decisions are signed for: the signer's, else `tether-eval`."""
        return (self.signer.name if self.signer else None) or EVAL_APPROVER


def build_worker(client: Client, loaded: LoadedDataset, serving: Serving, queue: str) -> Worker:
    """The evaluation's worker: its workflow, scoring, approver and judge, and the
    targets when `serving` has a registry (whose runs then trust the evaluation's key)."""
    registry = serving.registry or AgentRegistry([])
    activities = EvalActivities(loaded, serving.signer, approver=serving.approver)
    served = AgentRegistry(
        [*registry, JUDGE],
        workflows=[EvalWorkflow, *registry.workflows],
        activities=[activities.score, activities.approve, *registry.activities],
    )
    keys = None
    if serving.registry is not None and serving.signer is not None:
        keys = ApproverKeys(keys={serving.signer.public_key: [serving.approver]})
    return create_worker(client, served, llm=_llm(serving, loaded), queue=queue, approver_keys=keys)


def _llm(serving: Serving, loaded: LoadedDataset) -> LlmSettings:
    """The worker's model settings: those given, else the environment's; an evaluation
    that asks no model itself runs without any."""
    if serving.llm is not None:
        return serving.llm
    try:
        return LlmSettings.from_env()
    except ConfigurationError:
        from tether._evals.judge import is_judge

        judged = any(is_judge(e) for c in loaded.dataset.cases for e in c.evaluators) or any(
            is_judge(e) for e in loaded.dataset.evaluators
        )
        if judged or serving.registry is not None:
            raise
        return LlmSettings.scripted()


def new_input(
    loaded: LoadedDataset,
    targets: list[Target],
    *,
    evaluators: str | None,
    concurrency: int,
    judge_model: str | None,
) -> EvalInput:
    runs = len(loaded.cases) * len(targets)
    if runs > MAX_RUNS:
        raise ConfigurationError(
            f"{len(loaded.cases)} cases x {len(targets)} targets is {runs} runs; an "
            f"evaluation holds at most {MAX_RUNS}: split the dataset"
        )
    return EvalInput(
        dataset=loaded.name,
        dataset_text=loaded.text,
        dataset_format=loaded.format,
        evaluators_module=evaluators,
        cases=loaded.cases,
        targets=targets,
        concurrency=concurrency,
        judge_model=judge_model,
    )


async def start(client: Client, params: EvalInput, eval_id: str) -> WorkflowHandle[Any, Any]:
    """Start evaluation `eval_id` on its own task queue (an id a workflow had before is
    refused: `WorkflowAlreadyStartedError`)."""
    return await client.start_workflow(
        EVAL_WORKFLOW,
        params,
        id=eval_id,
        task_queue=eval_queue(eval_id),
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"evaluation of {params.dataset}: {len(params.cases)} cases x "
        f"{', '.join(t.name for t in params.targets)}",
    )


async def recorded_input(client: Client, eval_id: str) -> tuple[EvalInput, str]:
    """What evaluation `eval_id` was started with, from its history, and its queue."""
    handle = client.get_workflow_handle(eval_id)
    async for event in handle.fetch_history_events():
        attrs = event.workflow_execution_started_event_attributes
        if attrs.workflow_type.name != EVAL_WORKFLOW:
            raise ConfigurationError(f"{eval_id} is not an evaluation ({attrs.workflow_type.name})")
        [params] = await client.data_converter.decode(attrs.input.payloads, [EvalInput])
        return params, attrs.task_queue.name
    raise ConfigurationError(f"evaluation {eval_id} has no history")


def reloaded(params: EvalInput) -> LoadedDataset:
    """The dataset an evaluation recorded, with its evaluators module imported again."""
    return parse_dataset(
        params.dataset_text,
        params.dataset_format,
        name=params.dataset,
        evaluators=evaluator_types(params.evaluators_module),
    )


@asynccontextmanager
async def serving_worker(
    client: Client, loaded: LoadedDataset, serving: Serving, queue: str
) -> AsyncIterator[Worker]:
    """The evaluation's worker, running."""
    async with build_worker(client, loaded, serving, queue) as worker:
        yield worker


async def follow(
    handle: WorkflowHandle[Any, Any], on_progress: Progress | None = None
) -> list[CaseResult]:
    """Wait for the evaluation's results, telling `on_progress` of each run as it ends."""
    result = asyncio.ensure_future(handle.result())
    seen: set[str] = set()
    try:
        while not result.done():
            try:
                progress = await handle.query(EvalWorkflow.progress, len(seen))
            except Exception:  # not taken by the worker yet: asked again shortly
                progress = None
            if progress is not None:
                seen |= {r.workflow_id for r in progress.finished}
                if on_progress is not None:
                    on_progress(progress)
            await asyncio.wait([result], timeout=POLL_SECONDS)
        results = [CaseResult.model_validate(r) for r in result.result()]
    finally:
        result.cancel()
    unseen = [r for r in results if r.workflow_id not in seen]
    if on_progress is not None and unseen:  # those that ended after the last look
        targets = list(dict.fromkeys(r.target for r in results))
        total = len(results)
        on_progress(
            EvalProgress(
                total=total,
                done=total,
                running=0,
                targets=targets,
                finished=unseen,
                since=len(seen),
            )
        )
    return results
