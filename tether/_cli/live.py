"""Following a run by its event feed (`tether.subscribe`): its steps as they happen, and
on a terminal each reply's text as the model writes it; or, with --events, every event
as one JSON line, for other programs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from tether._cli.common import prog, result_text
from tether._cli.follow import Approver, say_stopped_following
from tether._cli.notices import NOTICE_SECONDS, Notices
from tether._cli.reading import ask_state
from tether._events import (
    ApprovalDecided,
    ApprovalWaiting,
    ModelSwitched,
    QuestionAnswered,
    QuestionAsked,
    Reply,
    RunEvent,
    StepDone,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnInterrupted,
)
from tether._run_io import RunState
from tether._subscribe import OFFSET_QUERY, QUERY_TIMEOUT, subscribe

# Once a chat's reply is in, how long its feed gets to show the end of it.
DRAIN_SECONDS = 5.0
# Once the run's result is in, how long its feed gets to give its last events (the
# `run_ended` at least): a killed worker's sticky queue alone holds a poll ~10 s.
LAST_EVENTS_SECONDS = 60.0


class LastEventsMissing(RuntimeError):
    """The run ended, but its feed did not give its last event in time."""


T = TypeVar("T")


@dataclass
class Screen:
    """A run's events as a person reads them: the progress lines `tether transcript`
    shows (a turn that calls tools, each call, each result), a pipeline's steps, and,
    on a terminal, each reply's text as it is written."""

    tty: bool
    approver: Approver
    # Progress lines in order, as printed: from the feed, or from the run's history
    # while no worker answered (the feed then gives them again, and they are skipped).
    lines: list[str] = field(default_factory=list)
    _given: int = 0  # how many of `lines` the feed has given
    _headed: set[int] = field(default_factory=set)  # turns whose "turn N" is printed
    _writing: int | None = None  # the turn whose text is on the current line
    # A run that tells its own steps (a pipeline's `step`) is shown by them alone, as
    # `tether status` shows it: its tool calls are among them.
    _by_steps: bool = False
    answer: str | None = None  # the latest reply's text as it was written here
    before_text: str = "\n"  # what a reply's text starts after (chat: "agent> ")

    def show(self, event: RunEvent) -> None:
        if isinstance(event, TextDelta):
            self._text(event)
        elif isinstance(event, Reply):
            if self._writing == event.turn:
                self._write("\n")
                self._writing = None
                self.answer = event.text
        elif isinstance(event, ToolCallStarted | ToolCallFinished) and self._by_steps:
            return
        elif isinstance(event, ToolCallStarted):
            if event.turn not in self._headed:
                self._headed.add(event.turn)
                self._line(f"turn {event.turn}")
            self._line(f"  → {event.tool}({event.arguments})")
        elif isinstance(event, ToolCallFinished):
            self._line(f"  ← {result_text(event.result)}")
        elif isinstance(event, StepDone):
            self._by_steps = True
            self._line(f"  · {event.text}")
        elif isinstance(event, ApprovalDecided) and event.call_id not in self.approver.decided:
            verdict = "approved" if event.approved else "rejected"
            why = " (nobody decided in time)" if event.timed_out else ""
            if event.decided_by and not event.timed_out:  # a person's name, or a policy's rule
                why = f" by {event.decided_by}"
            print(
                f"  {'✓' if event.approved else '✗'} {verdict} {event.tool}{why}", file=sys.stderr
            )
        elif isinstance(event, QuestionAsked):
            offered = f" [{' | '.join(event.choices)}]" if event.choices else ""
            asked = " ".join(event.question.split())
            print(f"  ? asked a person (call {event.call_id}): {asked}{offered}", file=sys.stderr)
            answer = f"{prog()} answer {self.approver.workflow_id} --call {event.call_id} ANSWER"
            print(f"    to answer: {answer}", file=sys.stderr)
        elif isinstance(event, QuestionAnswered):
            told = f"{event.answer} by {event.answered_by}" if not event.timed_out else ""
            print(f"  ! answered {told or '(nobody answered in time)'}", file=sys.stderr)
        elif isinstance(event, ModelSwitched):
            print(f"  ⇄ {event.from_model} → {event.to_model}: {event.reason}", file=sys.stderr)
        elif isinstance(event, TurnInterrupted):
            if self._writing is not None:  # the abandoned reply's text ends here
                self._write("\n")
                self._writing = None
            what = "; ".join(event.abandoned) or "nothing (the step had just ended)"
            print(f"  ✋ turn {event.turn} interrupted: abandoned {what}", file=sys.stderr)

    def history(self, lines: list[str]) -> None:
        """Progress lines read from the run's history: those not printed yet."""
        same = 0
        for mine, theirs in zip(lines, self.lines, strict=False):
            if mine != theirs:
                break
            same += 1
        for line in lines[same:]:
            print(line, flush=True)
        self.lines = lines
        self._given = min(self._given, same)

    def _text(self, delta: TextDelta) -> None:
        if not self.tty:
            return  # a pipe gets the answer whole, at the end
        if delta.restart:
            self._write("\n  ↻ the reply broke off; the model writes it again:\n")
        elif self._writing != delta.turn:
            self._end_text()
            self._write(self.before_text)
        self._writing = delta.turn
        self._write(delta.text)

    def _line(self, line: str) -> None:
        self._end_text()
        if self._given < len(self.lines) and self.lines[self._given] == line:
            self._given += 1  # printed from the run's history already
            return
        print(line, flush=True)
        self.lines[self._given :] = [line]
        self._given += 1

    def _end_text(self) -> None:
        if self._writing is not None:
            self._write("\n")
            self._writing = None

    @staticmethod
    def _write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()


def print_event(event: RunEvent) -> None:
    """One event as one JSON line (--events)."""
    print(event.model_dump_json(), flush=True)


async def follow_feed(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    approver: Approver,
    show: Callable[[RunEvent], None],
    notices: Notices,
    *,
    history: Callable[[list[str]], None] | None = None,
    from_seq: int = 0,
) -> Any:
    """Wait for the run's result, giving `show` each event of its feed from `from_seq`
    as it comes and letting `approver` decide what waits for a person; meanwhile
    `notices` says what Temporal retries, and while no worker polls, `history` gets the
    run's progress lines from its history."""
    result = asyncio.create_task(handle.result())

    async def read() -> None:
        async for event in subscribe(client, handle.id, from_seq=from_seq):
            show(event)
            if isinstance(event, ApprovalWaiting):
                # Only if it still waits: a feed read from the start has old ones too.
                state = await ask_state(handle)
                pending = state.pending_approvals if state is not None else []
                await approver.attend(handle, [p for p in pending if p.call_id == event.call_id])
            if isinstance(event, QuestionAsked):
                state = await ask_state(handle)
                asked = state.pending_questions if isinstance(state, RunState) else []
                await approver.ask_questions(
                    handle, [q for q in asked if q.call_id == event.call_id]
                )

    reading = asyncio.create_task(read())
    try:
        while not result.done():
            await asyncio.wait({result} | ({reading} - done(reading)), timeout=NOTICE_SECONDS)
            if reading.done() and reading.exception() is not None:
                reading.result()  # the run has no feed (an old worker), or is gone
            lines = await notices.check(now=result.done())
            if lines and history is not None:
                history(lines)
        await asyncio.wait({reading}, timeout=LAST_EVENTS_SECONDS)
        if not reading.done():
            raise LastEventsMissing(
                f"run {handle.id} ended, but its event feed did not give its last events "
                f"within {LAST_EVENTS_SECONDS:g} s; read them with `watch --events --from SEQ`"
            )
        reading.result()  # the feed's own error, if it had one
        return result.result()
    except asyncio.CancelledError:  # Ctrl-C
        say_stopped_following(handle)
        raise
    finally:
        result.cancel()
        reading.cancel()


def done(task: asyncio.Task[None]) -> set[asyncio.Task[None]]:
    return {task} if task.done() else set()


async def written_while(
    client: Client,
    workflow_id: str,
    screen: Screen,
    waiting: Awaitable[T],
    reply: Callable[[T], str | None],
    *,
    from_seq: int,
) -> T:
    """`waiting`'s result, while the run's events from `from_seq` go to `screen`; once
    it is in, the feed gets DRAIN_SECONDS to show the end of its `reply`."""
    wanted: list[str | None] = []  # the reply, once it is in

    async def read() -> None:
        async for event in subscribe(client, workflow_id, from_seq=from_seq):
            screen.show(event)
            if wanted and screen.answer == wanted[0]:
                return

    reading = asyncio.create_task(read())
    try:
        result = await waiting
        wanted.append(reply(result))
        if screen.answer != wanted[0]:
            await asyncio.wait({reading}, timeout=DRAIN_SECONDS)
        return result
    finally:
        reading.cancel()


async def feed_end(client: Client, workflow_id: str) -> int:
    """The seq the run's next event will have (0 if it has no feed)."""
    try:
        end: int = await client.get_workflow_handle(workflow_id).query(
            OFFSET_QUERY, result_type=int, rpc_timeout=QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError):
        return 0
    return end
