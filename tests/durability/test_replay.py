"""The replay gate: recorded histories must replay on the current workflow code, and
each must hold what its scenario is about (a recording gone wrong fails here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.api.common.v1 import Payloads
from temporalio.client import WorkflowHistory

from tests.histories.record import GENERATION
from tests.support.history_reading import PUBLISH_SIGNAL
from tests.support.incompatible_workflow import ReorderedAgentWorkflow
from tether import AgentResult, ApprovalDecision
from tether._events import WATCH_SIGNAL
from tether._replay import load_history, replay
from tether._temporal import TETHER_CONVERTER
from tether._wire import LLM_ACTIVITY, MCP_TOOL_ACTIVITY, TOOL_ACTIVITY, LlmRequest
from tether.workflow import AgentWorkflow
from workflows.refund_pipeline import RefundPipelineWorkflow
from workflows.refund_pipeline_types import RefundResult

T = TypeVar("T")
WORKFLOWS: list[type] = [AgentWorkflow, RefundPipelineWorkflow]
PIPELINE = "RefundPipelineWorkflow"  # its @workflow.defn name
GENERATIONS = Path(__file__).parents[1] / "histories"
HISTORIES = sorted(GENERATIONS.glob("v*/*.json"))
IDS = [f"{p.parent.name}/{p.stem}" for p in HISTORIES]


@dataclass(frozen=True)
class Recorded:
    """What a recorded run shows, decoded from its events."""

    result: AgentResult | RefundResult | None  # None: it did not complete (continued-as-new)
    decisions: list[ApprovalDecision]  # accepted `decide` updates
    continued_from: str  # the run id this run continued, or ""
    continued_as_new: bool
    activities: list[str]  # the type of each activity scheduled, in order
    signals: list[str]  # the name of each signal received, in order
    summaries: int  # model calls that summarized older messages (a context policy's)
    children: int  # child workflows started (sub-agents)


async def decode(payloads: Payloads, kind: type[T]) -> T:
    [value] = await TETHER_CONVERTER.decode(payloads.payloads, [kind])
    return value  # type: ignore[no-any-return]


async def recorded(history: WorkflowHistory) -> Recorded:
    result: AgentResult | RefundResult | None = None
    decisions: list[ApprovalDecision] = []
    summaries = 0
    started = history.events[0].workflow_execution_started_event_attributes
    kind = RefundResult if started.workflow_type.name == PIPELINE else AgentResult
    for event in history.events:
        if event.HasField("workflow_execution_completed_event_attributes"):
            done = event.workflow_execution_completed_event_attributes.result
            result = await decode(done, kind)
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == "decide":
                decisions.append(await decode(request.input.args, ApprovalDecision))
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and (
            scheduled.activity_type.name == LLM_ACTIVITY
        ):
            summaries += (await decode(scheduled.input, LlmRequest)).summary
    last = history.events[-1]
    return Recorded(
        result=result,
        decisions=decisions,
        continued_from=started.continued_execution_run_id,
        continued_as_new=last.HasField("workflow_execution_continued_as_new_event_attributes"),
        activities=[
            e.activity_task_scheduled_event_attributes.activity_type.name
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


def answered(status: str, says: str) -> Callable[[Recorded], bool]:
    return lambda r: (
        isinstance(r.result, AgentResult)
        and r.result.status == status
        and says in str(r.result.answer)
    )


def decided(approve: bool, then_says: str) -> Callable[[Recorded], bool]:
    return lambda r: (
        [d.approve for d in r.decisions] == [approve] and answered("completed", then_says)(r)
    )


# Every recorded file, and what it must show.
CLAIMS: dict[str, Callable[[Recorded], bool]] = {
    "multi-tool": answered("completed", "refunded $42.00"),
    "parallel-and-bad-calls": answered("completed", "Your lamp has shipped."),
    "structured-output-repaired": lambda r: (
        isinstance(r.result, AgentResult)
        and r.result.output == {"category": "refund", "order_id": "A-1"}
    ),
    "fallback-after-errors": lambda r: (
        isinstance(r.result, AgentResult) and bool(r.result.model_switches)
    ),
    "max-turns": answered("max_turns", ""),
    "approval-granted": decided(True, "refunded $899.00"),
    "approval-rejected": decided(False, "can't refund order A-1004"),
    "continue-as-new-run1": lambda r: r.continued_as_new and not r.continued_from,
    "continue-as-new-run2": lambda r: (
        bool(r.continued_from) and answered("completed", "Order A-1004")(r)
    ),
    "local-model-calls": answered("completed", "Order A-1003"),
    "chat-with-tools": answered("completed", "Order A-1002"),
    "mcp-tool": lambda r: (
        answered("completed", "Noted: note 1.")(r) and r.activities.count(MCP_TOOL_ACTIVITY) == 2
    ),
    # Watched from its start: the replies' text came in by signal as it was written.
    "streamed": lambda r: (
        answered("completed", "Order A-1003")(r)
        and r.signals[0] == WATCH_SIGNAL
        and r.signals.count(PUBLISH_SIGNAL) >= 2
    ),
    "pipeline-refund": lambda r: (
        isinstance(r.result, RefundResult)
        and r.result.outcome == "refunded"
        and r.result.order_id == "A-1001"
    ),
    # v4 on: a decision carries the digest of the arguments shown, and who took it.
    "approval-by-named-approver": lambda r: (
        decided(True, "refunded $899.00")(r)
        and [(d.approver, bool(d.digest)) for d in r.decisions] == [("bob@shop", True)]
    ),
    "duplicate-keys-refused": lambda r: (
        answered("completed", "could not refund")(r)
        and r.decisions == []
        and TOOL_ACTIVITY not in r.activities
    ),
    # v6 on: the engine's own paths. A chat's older messages summarized, and only the
    # model's view carried into the next run, which answers from it.
    "context-compacted-run1": lambda r: (
        r.continued_as_new and not r.continued_from and r.summaries == 1
    ),
    "context-compacted-run2": lambda r: (
        bool(r.continued_from) and answered("completed", "echo: m-3")(r)
    ),
    # Nobody decided the refund: the run's deadline ended it while it waited.
    "deadline-during-approval": lambda r: (
        answered("deadline_exceeded", "")(r) and r.decisions == []
    ),
    "subagent": lambda r: (
        answered("completed", "The helper says: The answer is 42.")(r) and r.children == 1
    ),
    "pipeline-approval": lambda r: (
        isinstance(r.result, RefundResult)
        and (r.result.outcome, r.result.order_id, r.result.approvals) == ("refunded", "A-1004", 1)
        and [bool(d.digest) for d in r.decisions] == [True]
    ),
}


def test_every_scenario_has_its_history() -> None:
    assert {p.stem for p in HISTORIES} <= set(CLAIMS), "every file claims something"
    # The current generation (the recorder's) holds every scenario.
    assert {p.stem for p in (GENERATIONS / GENERATION).glob("*.json")} == set(CLAIMS)


@pytest.mark.parametrize("path", HISTORIES, ids=IDS)
async def test_recorded_history_holds_what_its_scenario_is_about(path: Path) -> None:
    shown = await recorded(load_history(path))
    assert CLAIMS[path.stem](shown), f"{path.name} does not show its scenario: {shown}"


@pytest.mark.parametrize("path", HISTORIES, ids=IDS)
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    [verdict] = await replay([load_history(path)], workflows=WORKFLOWS, converter=TETHER_CONVERTER)
    assert verdict.compatible, verdict.problem


async def test_the_gate_catches_an_incompatible_change() -> None:
    [verdict] = await replay(
        [load_history(HISTORIES[0])],
        workflows=[ReorderedAgentWorkflow],
        converter=TETHER_CONVERTER,
    )
    assert not verdict.compatible
    assert verdict.problem is not None and "Nondeterminism" in verdict.problem
