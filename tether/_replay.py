"""Replaying a recorded history against the current workflow code.

A change to workflow code that would make a running workflow take a different path on
replay (a nondeterminism error) must be caught before it ships: recorded histories under
tests/histories are replayed on every test run, and `starter.py replay` checks any run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.json_format import ParseError
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.worker import Replayer

from tether._sandbox import passing_tether_through

# A verdict's reason stays one readable line; the SDK's can span a page.
MAX_PROBLEM_CHARS = 300
# The SDK core reports a failed replay as a debug dump of a Failure; its message is
# the part a person needs ("[TMPRL1100] Nondeterminism error: ...").
CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


class NotAHistory(ValueError):
    """A file that holds no workflow history; the message says what is wrong."""


@dataclass(frozen=True)
class ReplayVerdict:
    workflow_id: str
    compatible: bool
    problem: str | None = None


def load_history(path: Path) -> WorkflowHistory:
    """A history exported as JSON (`temporal workflow show --output json`, or the
    recorder); the workflow id is the file's stem."""
    try:
        text = path.read_text()
    except OSError as e:
        raise NotAHistory(f"cannot read {path}: {e.strerror or e}") from None
    try:
        history = WorkflowHistory.from_json(path.stem, text)
    except (ValueError, ParseError, TypeError, AttributeError) as e:
        why = one_line(str(e))
        raise NotAHistory(f"{path} is not a workflow history in JSON ({why})") from None
    events = history.events
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise NotAHistory(f"{path} is not a workflow history: it does not start with a run")
    return history


async def replay(
    histories: Sequence[WorkflowHistory],
    *,
    workflows: Sequence[type],
    converter: DataConverter,
    runtime: Runtime | None = None,
) -> list[ReplayVerdict]:
    """Whether each history replays on the current code, and why not if it doesn't
    (in one line). `runtime` None is the SDK's default, which logs failures too."""
    replayer = Replayer(
        workflows=workflows,
        data_converter=converter,
        runtime=runtime,
        workflow_runner=passing_tether_through(),
    )
    verdicts = []
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        problem = None if failure is None else one_line(core_message(str(failure)))
        verdicts.append(ReplayVerdict(history.workflow_id, problem is None, problem))
    return verdicts


def core_message(text: str) -> str:
    found = CORE_MESSAGE.search(text)
    return text if found is None else found.group(1).replace('\\"', '"')


def one_line(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
