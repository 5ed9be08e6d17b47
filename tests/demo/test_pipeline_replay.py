"""The replay gate for the demo's refund pipeline: its recorded runs must replay on the
current code (the pipeline's and Tether's), and each must hold what its scenario is
about. The engine's own recorded runs are tests/durability/test_replay.py's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.recorded_histories import (
    GENERATION,
    Recorded,
    check_claim,
    check_replays,
    histories,
    ids,
)
from tether._wire import JUDGE_ACTIVITY
from workflows.refund_pipeline import RefundPipelineWorkflow
from workflows.refund_pipeline_types import RefundResult

HISTORIES = histories("RefundPipelineWorkflow")

# Every recorded file, and what it must show.
CLAIMS: dict[str, Callable[[Recorded], bool]] = {
    "pipeline-refund": lambda r: (
        isinstance(r.result, RefundResult)
        and r.result.outcome == "refunded"
        and r.result.order_id == "A-1001"
    ),
    "pipeline-approval": lambda r: (
        isinstance(r.result, RefundResult)
        and (r.result.outcome, r.result.order_id, r.result.approvals) == ("refunded", "A-1004", 1)
        and [bool(d.digest) for d in r.decisions] == [True]
    ),
    # Between the policy's thresholds: its judge model approves, nobody is asked;
    # or it refuses, and a person approves.
    "pipeline-judged": lambda r: (
        isinstance(r.result, RefundResult)
        and (r.result.outcome, r.result.order_id, r.result.approvals) == ("refunded", "A-1005", 0)
        and JUDGE_ACTIVITY in r.activities
        and r.decisions == []
    ),
    "pipeline-judge-escalated": lambda r: (
        isinstance(r.result, RefundResult)
        and (r.result.outcome, r.result.order_id, r.result.approvals) == ("refunded", "A-1005", 1)
        and JUDGE_ACTIVITY in r.activities
        and [bool(d.digest) for d in r.decisions] == [True]
    ),
}


def test_every_scenario_has_its_history() -> None:
    assert {p.stem for p in HISTORIES} <= set(CLAIMS), "every file claims something"
    assert {p.stem for p in histories("RefundPipelineWorkflow", GENERATION)} == set(CLAIMS)


@pytest.mark.parametrize("path", HISTORIES, ids=ids(HISTORIES))
async def test_recorded_history_holds_what_its_scenario_is_about(path: Path) -> None:
    await check_claim(path, CLAIMS, RefundResult)


@pytest.mark.parametrize("path", HISTORIES, ids=ids(HISTORIES))
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    await check_replays(path, [RefundPipelineWorkflow])
