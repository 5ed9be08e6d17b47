"""A run's events as AG-UI events (the `ag-ui-protocol` package's types), so that an
AG-UI client can follow and drive a Tether agent.

Text deltas are TEXT_MESSAGE_START/CONTENT/END, a tool call TOOL_CALL_START/ARGS/END and
its result TOOL_CALL_RESULT; what AG-UI has no type for (turns, approvals, budgets,
model switches) is a CUSTOM event named `tether.<type>` whose value is the Tether
event. A turn driven through `POST /agui/{agent}` ends with RUN_FINISHED: `success` once
the agent has answered, or `interrupt` while a call waits for a person, one interrupt
per call (id = the call id); the client resumes with `resume` entries whose payload is
`{"approve": true|false, "reason": ..., "arguments": {...}}` (the interrupt's id is
`CALL_ID@DIGEST`: the decision applies to the arguments it showed). A question the agent
asked a person (`ask_person`) is an interrupt too, `CALL_ID@question`, whose response
schema is `{"answer": ...}` as the question takes it; resume it with that payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    Interrupt,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)

from tether._client import AgentRun
from tether._events import (
    ApprovalWaiting,
    QuestionAsked,
    Reply,
    RunEnded,
    RunEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from tether._run_io import PendingApproval, PendingQuestion, RunState
from tether._visibility import policy_line
from tether._web.streams import KEEPALIVE_SECONDS, RETRY_MS, frame, paced

ENDED_WELL = ("completed", "awaiting_user")
# An interrupt's id is the call id and the digest of the arguments it showed: the
# decision a client resumes with applies to those arguments and no others.
INTERRUPT_SEPARATOR = "@"
# What follows the separator in a question's interrupt id (a call's: its digest, hex).
QUESTION = "question"
# While the agent may have answered, look at the run this often.
LOOK_SECONDS = 0.5
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 2000},
        "arguments": {"type": "object", "description": "run with these arguments instead"},
    },
    "required": ["approve"],
}


class ToAgui:
    """Maps one stream of a run's events to AG-UI events (it remembers which text
    message each turn is writing)."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.writing: dict[int, str] = {}  # turn -> the message id its deltas go to

    def map(self, event: RunEvent) -> list[BaseEvent]:
        match event:
            case TextDelta():
                return self._delta(event)
            case Reply():
                return self._reply(event)
            case ToolCallStarted():
                return [
                    ToolCallStartEvent(tool_call_id=event.call_id, tool_call_name=event.tool),
                    ToolCallArgsEvent(tool_call_id=event.call_id, delta=event.arguments or "{}"),
                    ToolCallEndEvent(tool_call_id=event.call_id),
                ]
            case ToolCallFinished():
                return [
                    ToolCallResultEvent(
                        message_id=self._id(event),
                        tool_call_id=event.call_id,
                        content=event.result,
                        role="tool",
                    )
                ]
        return [CustomEvent(name=f"tether.{event.type}", value=event.model_dump(mode="json"))]

    def _delta(self, event: TextDelta) -> list[BaseEvent]:
        out: list[BaseEvent] = []
        message = self.writing.get(event.turn)
        if event.restart and message is not None:  # a retried call writes its text anew
            out.append(TextMessageEndEvent(message_id=message))
            message = None
        if message is None:
            message = self.writing[event.turn] = self._id(event)
            out.append(TextMessageStartEvent(message_id=message, role="assistant"))
        if event.text:
            out.append(TextMessageContentEvent(message_id=message, delta=event.text))
        return out

    def _reply(self, event: Reply) -> list[BaseEvent]:
        message = self.writing.pop(event.turn, None)
        if message is not None:
            return [TextMessageEndEvent(message_id=message)]
        if not event.text:
            return []
        message = self._id(event)
        return [
            TextMessageStartEvent(message_id=message, role="assistant"),
            TextMessageContentEvent(message_id=message, delta=event.text),
            TextMessageEndEvent(message_id=message),
        ]

    def _id(self, event: RunEvent) -> str:
        return f"{self.workflow_id}:{event.seq}"


def encoded(event: BaseEvent, seq: int | None = None) -> str:
    return frame(event.model_dump_json(by_alias=True, exclude_none=True), id=seq)


async def observed(run: AgentRun, start: int) -> AsyncIterator[str]:
    """A run's events from `start` on, as AG-UI events, until it ends (a watcher's
    view: RUN_STARTED, the events, RUN_FINISHED or RUN_ERROR)."""
    yield f"retry: {RETRY_MS}\n\n"
    yield encoded(RunStartedEvent(thread_id=run.id, run_id=run.id))
    mapper = ToAgui(run.id)
    async for event in paced(run.events(from_seq=start), KEEPALIVE_SECONDS):
        if event is None:
            yield ": keep-alive\n\n"
        elif isinstance(event, RunEnded):
            yield encoded(ended(event, run.id, run.id), event.seq)
        else:
            for mapped in mapper.map(event):
                yield encoded(mapped, event.seq)


async def one_turn(run: AgentRun, run_id: str, start: int) -> AsyncIterator[str]:
    """What a client's `POST /agui/{agent}` gets: the run's events from `start` until
    the agent has answered (RUN_FINISHED success), a call waits for a person (RUN_FINISHED
    interrupt) or the run ends."""
    yield encoded(RunStartedEvent(thread_id=run.id, run_id=run_id))
    mapper = ToAgui(run.id)
    look = False  # whether the agent may have answered or asked: look at its state
    async for event in paced(run.events(from_seq=start), LOOK_SECONDS):
        if isinstance(event, RunEnded):
            yield encoded(ended(event, run.id, run_id), event.seq)
            return
        if event is not None:
            for mapped in mapper.map(event):
                yield encoded(mapped, event.seq)
            look = look or isinstance(event, (Reply, ApprovalWaiting, QuestionAsked))
            continue
        if not look:
            continue
        state = await run.state()
        if state.status == "awaiting_user" and not state.queued_messages:
            yield encoded(answered(state, run.id, run_id))
            return
        waiting = state.pending_approvals or state.pending_questions
        if state.status in ("awaiting_approval", "awaiting_answer") and waiting:
            yield encoded(
                interrupted(state.pending_approvals, run.id, run_id, state.pending_questions)
            )
            return


def answered(state: RunState, thread_id: str, run_id: str) -> RunFinishedEvent:
    return RunFinishedEvent(
        thread_id=thread_id,
        run_id=run_id,
        result=state.last_message,
        outcome=RunFinishedSuccessOutcome(),
    )


def interrupted(
    calls: list[PendingApproval],
    thread_id: str,
    run_id: str,
    questions: Sequence[PendingQuestion] = (),
) -> RunFinishedEvent:
    """The turn ends for a person: a decision on each call, an answer to each question
    (its response schema: `{"answer": ...}`, the answer as the question takes it)."""
    interrupts = [
        Interrupt(
            id=f"{call.call_id}{INTERRUPT_SEPARATOR}{call.digest or ''}",
            reason="tether.approval",
            message=_waits(call),
            tool_call_id=call.call_id,
            response_schema=RESPONSE_SCHEMA,
            expires_at=call.expires_at.isoformat(),
        )
        for call in calls
    ] + [
        Interrupt(
            id=f"{question.call_id}{INTERRUPT_SEPARATOR}{QUESTION}",
            reason="tether.question",
            message=question.question,
            tool_call_id=question.call_id,
            response_schema={
                "type": "object",
                "properties": {"answer": question.answer_schema},
                "required": ["answer"],
            },
            expires_at=question.expires_at.isoformat(),
        )
        for question in questions
    ]
    outcome = RunFinishedInterruptOutcome(interrupts=interrupts)
    return RunFinishedEvent(thread_id=thread_id, run_id=run_id, outcome=outcome)


def _waits(call: PendingApproval) -> str:
    """What an interrupt says of its call: the call, and why a person is asked."""
    said = f"{call.tool}({call.arguments}) waits for a person's decision"
    if call.policy is not None:
        said += f", asked by the approval policy: {policy_line(call.policy)}"
    return said


def ended(event: RunEnded, thread_id: str, run_id: str) -> BaseEvent:
    if event.status in ENDED_WELL:
        return RunFinishedEvent(
            thread_id=thread_id,
            run_id=run_id,
            result=event.answer,
            outcome=RunFinishedSuccessOutcome(),
        )
    message = event.error or f"the run ended: {event.status}"
    return RunErrorEvent(message=message, code=event.status)
