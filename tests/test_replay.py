"""The replay gate: recorded histories must replay on the current workflow code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.incompatible_workflow import ReorderedAgentWorkflow
from tether.replay import load_history, replay
from tether.temporal import TETHER_CONVERTER
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    names = {p.stem for p in HISTORIES}
    assert {"multi-tool", "structured-output-repaired", "fallback-after-errors"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
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
