"""Replaying a recorded history against the current workflow code.

A change to workflow code that would make a running workflow take a different path on
replay (a nondeterminism error) must be caught before it ships: recorded histories under
tests/histories are replayed on every test run, and `starter.py replay` checks any run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer


@dataclass(frozen=True)
class ReplayVerdict:
    workflow_id: str
    compatible: bool
    problem: str | None = None


def load_history(path: Path) -> WorkflowHistory:
    """A history exported as JSON (`temporal workflow show --output json`, or the
    recorder); the workflow id is the file's stem."""
    return WorkflowHistory.from_json(path.stem, path.read_text())


async def replay(
    histories: Sequence[WorkflowHistory], *, workflows: Sequence[type], converter: DataConverter
) -> list[ReplayVerdict]:
    """Whether each history replays on the current code, and why not if it doesn't."""
    replayer = Replayer(workflows=workflows, data_converter=converter)
    verdicts = []
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        problem = None if result.replay_failure is None else str(result.replay_failure)
        verdicts.append(ReplayVerdict(history.workflow_id, problem is None, problem))
    return verdicts
