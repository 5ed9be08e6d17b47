"""What a run tells a watching client, event by event (pure data: workflow code imports it).

A run's events form one ordered feed (a Temporal Workflow Stream hosted by the run,
carried across continue-as-new): the workflow publishes its steps, and the LLM activity
publishes the reply's text as it is written. `tether.subscribe` reads them.

Every event has a `type`; `seq` (its position in the feed, from 0, across
continue-as-new) and `workflow_id` are filled in by the subscriber. Resume a feed with
`from_seq=last.seq + 1`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from tether._messages import ToolCall
from tether._run_io import PolicyVerdict

# The stream topic every Tether event is published on.
TOPIC = "tether"
# A subscriber's "I am watching" to its run: model calls stream their text for a while.
WATCH_SIGNAL = "tether.watch"
# Tool arguments and results in events are cut to this many characters: an event says
# what happened; the transcript has it all.
SHORT_CHARS = 200
ARGUMENTS_CHARS = 1_000


def cut(text: str, limit: int = SHORT_CHARS) -> str:
    """`text`, at most `limit` characters (the last one an ellipsis if it was cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Event(BaseModel):
    """What every event has."""

    workflow_id: str = Field(default="", description="The run's workflow id.")
    seq: int = Field(default=-1, description="The event's position in the run's feed.")

    def model_post_init(self, context: Any, /) -> None:
        # Tether's payloads leave out fields left at their defaults; the `type` must stay,
        # it tells the events apart.
        self.__pydantic_fields_set__.add("type")


class TurnStarted(Event):
    """The run asks the model, in its `turn`-th model call (counted across
    continue-as-new; a pipeline counts its LLM steps)."""

    type: Literal["turn_started"] = "turn_started"
    turn: int
    model: str


class TextDelta(Event):
    """A piece of the reply the model is writing in `turn`.

    The deltas of one attempt of one model call join to its text. A call that fails
    mid-reply is retried, and its next attempt writes the reply again from the start:
    each delta names its `call` (the activity) and `attempt`, and the subscriber drops
    the deltas of an attempt a newer one superseded. `attempt` 0 is the whole text at
    once, published by the workflow when the call was not streamed (streaming off, a
    local activity, a provider that does not stream, or a reply too short to be worth
    it).
    """

    type: Literal["text_delta"] = "text_delta"
    turn: int
    text: str
    call: str = Field(default="", description="The model call's activity id; '' for attempt 0.")
    attempt: int = 0
    restart: bool = Field(
        default=False,
        description="Set by the subscriber: the turn's text starts over with this delta "
        "(it supersedes deltas this subscription already gave for the turn).",
    )


class Reply(Event):
    """The model's message of `turn` is complete: `text` is what the run keeps (None
    when the model only called tools). The deltas were a preview of it."""

    type: Literal["reply"] = "reply"
    turn: int
    text: str | None = None
    truncated: bool = Field(
        default=False, description="The reply was cut at its length limit (finish_reason length)."
    )
    tools_dropped: bool = Field(
        default=False,
        description="The model server dropped the agent's tools: this reply was written "
        "without them.",
    )


class ToolCallStarted(Event):
    """The model asked for a tool call (its arguments cut to 1,000 characters)."""

    type: Literal["tool_call_started"] = "tool_call_started"
    turn: int
    call_id: str
    tool: str
    arguments: str

    @classmethod
    def of(cls, turn: int, call: ToolCall) -> ToolCallStarted:
        return cls(
            turn=turn,
            call_id=call.id,
            tool=call.name,
            arguments=cut(call.arguments, ARGUMENTS_CHARS),
        )


class ToolCallFinished(Event):
    """A tool call's result for the model, cut to 200 characters; `error` says how a
    bad call or a rejection went back to the model."""

    type: Literal["tool_call_finished"] = "tool_call_finished"
    turn: int
    call_id: str
    tool: str
    result: str
    error: str | None = None

    @classmethod
    def of(cls, turn: int, call: ToolCall, result: str, error: str | None) -> ToolCallFinished:
        return cls(turn=turn, call_id=call.id, tool=call.name, result=cut(result), error=error)


class ApprovalWaiting(Event):
    """A tool call waits for a person's decision until `expires_at`."""

    type: Literal["approval_waiting"] = "approval_waiting"
    turn: int
    call_id: str
    tool: str
    arguments: str | None = Field(
        description="The arguments as they will run, whole; None when they are over "
        "1,000 characters (never cut: read them in the run's pending approvals)."
    )
    expires_at: datetime
    policy: PolicyVerdict | None = Field(
        default=None,
        description="The approval policy's rule that asks a person, and a judge's verdict "
        "if one did not approve; None without a policy.",
    )


class ApprovalDecided(Event):
    """A call was decided: by a person, by the run's approval policy (without a wait
    before it), or by nobody in time (`timed_out`)."""

    type: Literal["approval_decided"] = "approval_decided"
    turn: int
    call_id: str
    tool: str
    approved: bool
    reason: str | None = None
    edited: bool = Field(default=False, description="Approved with other arguments.")
    timed_out: bool = False
    decided_by: str | None = Field(
        default=None,
        description="The approver's name (`person` if unnamed), or `policy (RULE)` / "
        "`judge (RULE)` for a decision the run's policy took.",
    )
    policy: PolicyVerdict | None = Field(
        default=None, description="What the approval policy said (rule, judge's verdict)."
    )


class QuestionAsked(Event):
    """The agent asked a person a question (an `ask_person` call), which waits for an
    answer until `expires_at`."""

    type: Literal["question_asked"] = "question_asked"
    turn: int
    call_id: str
    tool: str
    question: str
    choices: list[str] | None = None
    expires_at: datetime


class QuestionAnswered(Event):
    """A question was answered (`answer`, as JSON, by `answered_by`), or nobody answered
    in time (`timed_out`)."""

    type: Literal["question_answered"] = "question_answered"
    turn: int
    call_id: str
    tool: str
    answer: str | None = Field(default=None, description="The answer as JSON; None if none came.")
    answered_by: str | None = Field(default=None, description="Who answered (`person` if unnamed).")
    timed_out: bool = False


class UserMessage(Event):
    """A user message the run took into the conversation (the prompt, a chat message)."""

    type: Literal["user_message"] = "user_message"
    text: str


class TurnInterrupted(Event):
    """A person interrupted `turn` (`AgentRun.interrupt`, `tether interrupt`): what the
    interrupt abandoned, in words, and the message the run goes on with, if any (a
    `UserMessage` follows it)."""

    type: Literal["turn_interrupted"] = "turn_interrupted"
    turn: int
    abandoned: list[str] = Field(
        default_factory=list,
        description="What was stopped: the model call in flight, each tool call withdrawn "
        "or stopped; empty if the step under way had just ended.",
    )
    message: str | None = None


class ModelSwitched(Event):
    """The run moved to the next fallback model."""

    type: Literal["model_switched"] = "model_switched"
    turn: int
    from_model: str
    to_model: str
    reason: str


class BudgetReached(Event):
    """A budget ended the run (`max_turns`, `max_tokens`, `max_cost`, `deadline_exceeded`)."""

    type: Literal["budget_reached"] = "budget_reached"
    status: str
    detail: str


class ContinuedAsNew(Event):
    """The conversation goes on in its next run (same workflow id, same feed)."""

    type: Literal["continued_as_new"] = "continued_as_new"
    runs: int = Field(description="Runs of the conversation so far.")


class StepDone(Event):
    """A pipeline's step, as `Pipeline.step` recorded it."""

    type: Literal["step"] = "step"
    text: str


class RunEnded(Event):
    """The run ended: the last event of its feed."""

    type: Literal["run_ended"] = "run_ended"
    status: str = Field(description="An agent's RunStatus, or a pipeline's outcome.")
    answer: str | None = None
    error: str | None = None


RunEvent = Annotated[
    TurnStarted
    | TextDelta
    | Reply
    | ToolCallStarted
    | ToolCallFinished
    | ApprovalWaiting
    | ApprovalDecided
    | QuestionAsked
    | QuestionAnswered
    | UserMessage
    | TurnInterrupted
    | ModelSwitched
    | BudgetReached
    | ContinuedAsNew
    | StepDone
    | RunEnded,
    Field(discriminator="type"),
]
RUN_EVENT: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)
