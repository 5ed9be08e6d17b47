"""The replay gate: recorded histories of AgentWorkflow must replay on the current
workflow code, and each must hold what its scenario is about (a recording gone wrong
fails here). The demo's pipeline's recorded runs are replayed by
tests/demo/test_pipeline_replay.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.history_reading import PUBLISH_SIGNAL
from tests.support.incompatible_workflow import ReorderedAgentWorkflow
from tests.support.recorded_histories import (
    GENERATION,
    Recorded,
    check_claim,
    check_replays,
    histories,
    ids,
)
from tether import AgentResult
from tether._events import WATCH_SIGNAL
from tether._replay import load_history, replay
from tether._temporal import TETHER_CONVERTER
from tether._wire import CHECK_ACTIVITY, LLM_ACTIVITY, MCP_TOOL_ACTIVITY, TOOL_ACTIVITY
from tether.workflow import AgentWorkflow

HISTORIES = histories("AgentWorkflow")


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
    # v7 on: the cut reply continued and joined; tools dropped is no `completed`; the
    # model calls waited on the worker's model queue; the Responses API.
    "truncated-continued": lambda r: (
        answered("completed", "Once upon a time.")(r) and r.activities.count(LLM_ACTIVITY) == 2
    ),
    "tools-dropped": lambda r: (
        answered("tools_dropped", "on its way")(r)
        and isinstance(r.result, AgentResult)
        and r.result.tools_dropped
    ),
    # v8 on, a worker that limits its model calls declines the run's first call (which
    # would record the spec) first: the two calls that reach the model wait for a slot.
    "model-queue": lambda r: (
        answered("completed", "Order A-1003")(r)
        and [
            q.endswith("@models")
            for q, a in zip(r.queues, r.activities, strict=True)
            if a == LLM_ACTIVITY
        ].count(True)
        == 2
    ),
    "responses-with-reasoning": answered("completed", "Order A-1003"),
    # The refund ran on the approval policy's word: no decision reached the run.
    "approval-by-policy": lambda r: (
        answered("completed", "refunded $899.00")(r) and r.decisions == []
    ),
    # ... on the word of a Python check, asked in an activity.
    "approval-by-check": lambda r: (
        answered("completed", "refunded $899.00")(r)
        and r.decisions == []
        and r.activities.count(CHECK_ACTIVITY) == 1
    ),
    # A person answered the agent's question, which the model then told the user; or
    # nobody did, and no answer reached history.
    "question-answered": lambda r: (
        answered("completed", "You mean order A-1002.")(r)
        and [json.loads(a.value) for a in r.answers] == ["A-1002"]
    ),
    "question-unanswered": lambda r: (
        answered("completed", "Nobody told me which order you mean.")(r) and r.answers == []
    ),
    # The interrupted model call's answer was never used; the steer was answered.
    "interrupted-chat": lambda r: (
        answered("completed", "Order A-1002")(r)
        and "abandoned" not in str(r.result.answer)
        and r.interrupts == 1
    ),
    # The refund waiting for a person was withdrawn: nothing was decided, nothing ran.
    "interrupted-approval": lambda r: (
        answered("interrupted", "None")(r)
        and r.decisions == []
        and r.interrupts == 1
        and TOOL_ACTIVITY not in r.activities
    ),
}


def test_every_scenario_has_its_history() -> None:
    assert {p.stem for p in HISTORIES} <= set(CLAIMS), "every file claims something"
    # The current generation (the recorder's) holds every scenario.
    assert {p.stem for p in histories("AgentWorkflow", GENERATION)} == set(CLAIMS)


@pytest.mark.parametrize("path", HISTORIES, ids=ids(HISTORIES))
async def test_recorded_history_holds_what_its_scenario_is_about(path: Path) -> None:
    await check_claim(path, CLAIMS, AgentResult)


@pytest.mark.parametrize("path", HISTORIES, ids=ids(HISTORIES))
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    await check_replays(path, [AgentWorkflow])


async def test_the_gate_catches_an_incompatible_change() -> None:
    [verdict] = await replay(
        [load_history(HISTORIES[0])],
        workflows=[ReorderedAgentWorkflow],
        converter=TETHER_CONVERTER,
    )
    assert not verdict.compatible
    assert verdict.problem is not None and "Nondeterminism" in verdict.problem
