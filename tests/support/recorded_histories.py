"""The replay gate's recorded histories (tests/histories/v*/, written by
tests/histories/record.py): which runs of a workflow type there are, and what a recorded
run shows, decoded from its events."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.client import WorkflowHistory

from tether import ApprovalDecision
from tether._replay import load_history, replay
from tether._temporal import TETHER_CONVERTER
from tether._wire import LLM_ACTIVITY, LlmRequest
from tether.approvals import QuestionAnswer

T = TypeVar("T")
GENERATIONS = Path(__file__).parents[1] / "histories"
# One directory per generation of workflow code: a change guarded by `workflow.patched`
# starts a new one (and records into it), so runs of every generation stay checked.
# v1: before the patch "upsert-on-status-only"; v2: from it on; v3: from the patch
# "no-local-activities-with-updates" on (and model calls routed to the worker that holds
# the conversation); v4: from the patch "approvals-bound-keys-scoped-to-the-run" on;
# v5: from "tether-generation-2026-12" on, the one patch a run asks (see
# tether/_workflows/generations.py), with model calls on the shared queue first;
# v6: the same patch, on the engine split into modules by concern (agent.py the loop),
# with scenarios for its own paths (context compaction, a deadline, a sub-agent);
# v7: from "tether-generation-2027-01" on: cut replies and dropped tools acted on, model
# calls on a worker's model queue when it limits them; v8: runs that name their
# generation in their input (AgentInput.generation, as Tether's clients start them): no
# patch marker, the agent's spec recorded with the first model call, statuses upserted
# only from a wait for an approval on (and, within v8, questions a person answers).
GENERATION = "v8"


def histories(workflow_type: str, generation: str = "v*") -> list[Path]:
    """The recorded runs of `workflow_type` (of one generation, or of every one)."""
    return [
        path
        for path in sorted(GENERATIONS.glob(f"{generation}/*.json"))
        if _type_of(path) == workflow_type
    ]


def ids(paths: list[Path]) -> list[str]:
    """`generation/scenario` of each path, for test ids."""
    return [f"{p.parent.name}/{p.stem}" for p in paths]


def _type_of(path: Path) -> str:
    started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
    return str(started["workflowType"]["name"])


@dataclass(frozen=True)
class Recorded:
    """What a recorded run shows, decoded from its events."""

    result: Any  # of the run's result type; None: it did not complete (continued-as-new)
    decisions: list[ApprovalDecision]  # accepted `decide` updates
    answers: list[QuestionAnswer]  # accepted `answer` updates
    interrupts: int  # accepted `interrupt` updates
    continued_from: str  # the run id this run continued, or ""
    continued_as_new: bool
    activities: list[str]  # the type of each activity scheduled, in order
    queues: list[str]  # the task queue of each activity scheduled, in order
    signals: list[str]  # the name of each signal received, in order
    summaries: int  # model calls that summarized older messages (a context policy's)
    children: int  # child workflows started (sub-agents)


async def decode(payloads: Payloads, kind: type[T]) -> T:
    [value] = await TETHER_CONVERTER.decode(payloads.payloads, [kind])
    return value  # type: ignore[no-any-return]


async def recorded(history: WorkflowHistory, result_type: type[BaseModel]) -> Recorded:
    result: Any = None
    decisions: list[ApprovalDecision] = []
    answers: list[QuestionAnswer] = []
    interrupts = summaries = 0
    started = history.events[0].workflow_execution_started_event_attributes
    for event in history.events:
        if event.HasField("workflow_execution_completed_event_attributes"):
            done = event.workflow_execution_completed_event_attributes.result
            result = await decode(done, result_type)
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == "decide":
                decisions.append(await decode(request.input.args, ApprovalDecision))
            if request.input.name == "answer":
                answers.append(await decode(request.input.args, QuestionAnswer))
            interrupts += request.input.name == "interrupt"
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and (
            scheduled.activity_type.name == LLM_ACTIVITY
        ):
            summaries += (await decode(scheduled.input, LlmRequest)).summary
    last = history.events[-1]
    return Recorded(
        result=result,
        decisions=decisions,
        answers=answers,
        interrupts=interrupts,
        continued_from=started.continued_execution_run_id,
        continued_as_new=last.HasField("workflow_execution_continued_as_new_event_attributes"),
        activities=[
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ],
        queues=[
            e.activity_task_scheduled_event_attributes.task_queue.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ],
        signals=[
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in history.events
            if e.HasField("workflow_execution_signaled_event_attributes")
        ],
        summaries=summaries,
        children=sum(
            e.HasField("start_child_workflow_execution_initiated_event_attributes")
            for e in history.events
        ),
    )


async def check_claim(
    path: Path, claims: Mapping[str, Callable[[Recorded], bool]], result_type: type[BaseModel]
) -> None:
    """The recorded run at `path` shows what its scenario (its file's stem) claims."""
    shown = await recorded(load_history(path), result_type)
    assert claims[path.stem](shown), f"{path.name} does not show its scenario: {shown}"


async def check_replays(path: Path, workflows: list[type]) -> None:
    """The recorded run at `path` replays on the current code of `workflows`."""
    [verdict] = await replay([load_history(path)], workflows=workflows, converter=TETHER_CONVERTER)
    assert verdict.compatible, verdict.problem
