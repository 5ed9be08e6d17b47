"""Interrupting a turn (workflow code: no I/O).

`AgentWorkflow.interrupt` (an update) asks the turn under way to stop; the loop takes
the request at the turn's next safe point (`Interrupts.during`, `ToolCalls.run`):
- a model call in flight is cancelled at once (its activity is asked to stop, and the
  workflow does not wait for it to acknowledge: model calls are cancelled with
  `TRY_CANCEL`; its reply, should one come, is never used, and ModelCalls does not take
  a cancellation for a failure: no retry, no fallback model);
- a call waiting for a person's approval (or for its policy's judge), and a durable
  `wait`, is withdrawn: it never runs;
- a tool call already running is asked to stop and waited for: it stops or finishes
  by its own cancellation rules (a tool that finishes anyway has its result kept), so
  no side effect is left half done;
then the model is told of each tool call it asked for what became of it, and the run
goes on with the interrupt's message as the user's next one (without one: a chat waits
for the next message, a run that is not a chat ends `interrupted`).

The validator refuses an interrupt while a step may run a local activity: an update
accepted meanwhile may not replay (see generations.NO_LOCAL_ACTIVITIES_WITH_UPDATES),
and refused updates never reach history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from tether._events import TurnInterrupted
    from tether._limits import MAX_PROMPT_CHARS
    from tether._messages import Message, ToolCall
    from tether._wire import ToolOutcome

T = TypeVar("T")

# What a chat's pending `send` callers get when an interrupt without a message stopped
# the turn that was answering them.
NO_ANSWER = "[interrupted before answering]"


class TurnStopped(Exception):
    """An interrupt stopped the turn's step under way: caught by the turn loop."""

    def __init__(self, abandoned: list[str]) -> None:
        super().__init__("; ".join(abandoned))
        self.abandoned = abandoned  # what the interrupt stopped, in words
        # Tool calls: what became of each, as the model is told (ToolCalls.run).
        self.outcomes: list[ToolOutcome] = []


class Interrupts:
    """The interrupt asked of a run, and what the turn loop is doing that one may stop.

    The loop sets `step` (in words) while it waits for a step an interrupt may stop, and
    `local` while that step may run a local activity."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.local = False
        self.answers: dict[int, TurnInterrupted] = {}  # by request, until its caller has it
        # The requests not taken yet, with their messages: more than one when their
        # validators ran in one workflow task, before any handler.
        self._asks: list[tuple[int, str | None]] = []
        self._asked = 0

    @property
    def requested(self) -> bool:
        return bool(self._asks)

    def check(self, message: str | None, *, ended: bool, status: str) -> None:
        """Refuse an interrupt the run cannot take now (ValueError, one line for the
        caller). Runs in the update's validator: it must not change anything."""
        if ended:
            raise ValueError(f"the run has ended ({status}): nothing to interrupt")
        if message is not None and not message.strip():
            raise ValueError("the message is empty")
        if message is not None and len(message) > MAX_PROMPT_CHARS:
            raise ValueError(f"the message is longer than {MAX_PROMPT_CHARS:,} characters")
        if self.requested:
            raise ValueError("the turn is being interrupted already")
        if self.step is None:
            raise ValueError(f"nothing to interrupt: the run is {status}, not in a turn's step")
        if self.local:
            raise ValueError(
                f"the turn runs {self.step} as a local activity, which an interrupt may "
                "not stop; try again in a moment"
            )

    def request(self, message: str | None) -> int:
        """Ask the loop to stop the turn; the request's number in `answers`."""
        self._asked += 1
        self._asks.append((self._asked, message))
        return self._asked

    def take(self, turn: int, abandoned: list[str]) -> list[TurnInterrupted]:
        """The loop took the interrupts asked, stopping `abandoned`: their answers."""
        taken = [TurnInterrupted(turn=turn, abandoned=abandoned, message=m) for _, m in self._asks]
        self.answers.update(zip((asked for asked, _ in self._asks), taken, strict=True))
        self._asks = []
        return taken

    async def during(self, step: str, work: Callable[[], Awaitable[T]], *, local: bool) -> T:
        """The result of `work()`, unless an interrupt comes first: then the work is
        cancelled (what it waits for, told to stop), and TurnStopped raised. `step`:
        what the work does, in words; `local`: it may run a local activity (no
        interrupt is taken meanwhile)."""
        if self.requested:  # asked as the step before ended: stop before this one
            raise TurnStopped([])
        task = asyncio.ensure_future(work())
        self.step, self.local = step, local
        try:
            await workflow.wait_condition(lambda: task.done() or self.requested)
        except GeneratorExit:
            raise  # closed by the garbage collector: see deadline.by_deadline
        except BaseException:
            # The turn was cancelled (the run, or its deadline): so is the step, as if
            # it were awaited directly, before that is raised.
            await _cancelled(task)
            raise
        finally:
            self.step, self.local = None, False
        if task.done():
            return task.result()
        await _cancelled(task)  # a result that comes anyway is not used
        raise TurnStopped([step])


async def _cancelled(task: asyncio.Future[T]) -> None:
    """Cancel `task`, and wait until it has stopped."""
    task.cancel()
    try:
        await task
    except BaseException as e:
        if not is_cancelled_exception(e):
            raise


def stopped_call(call: ToolCall, *, ran: bool) -> ToolOutcome:
    """What the model is told of a call an interrupt stopped (`ran`: it had started)."""
    if ran:
        content = (
            f"Interrupted by the user while {call.name} ran: it was stopped and gave no "
            "result. Check whether it took effect before calling it again."
        )
    else:
        content = f"Not done: the user interrupted the turn before {call.name} ran."
    return ToolOutcome(error="interrupted", content=content)


def interrupted_note(turn: int, abandoned: list[str]) -> Message:
    """The transcript's mark of an interrupt (the model is not sent it)."""
    what = "; ".join(abandoned) or "nothing (the step had just ended)"
    return Message.system(f"[Interrupted by the user in turn {turn}; abandoned: {what}.]")
