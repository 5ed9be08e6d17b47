"""What a run tells whoever watches it, event by event, and how to follow it.

    from tether.events import RunEnded, TextDelta, ToolCallStarted, subscribe

    async for event in subscribe(client, "ticket-7"):
        match event:
            case TextDelta(restart=True): text = event.text
            case TextDelta(): text += event.text
            case ToolCallStarted(): print("→", event.tool, event.arguments)
            case RunEnded(): print(event.status)

A run's events form one ordered feed, carried across continue-as-new. Every event has
a `type`, its `seq` (its position in the feed, from 0) and the run's `workflow_id`;
resume a feed with `subscribe(..., from_seq=last.seq + 1)`. `AgentRun.events()` is the
same feed for one run.
"""

from __future__ import annotations

from tether._events import (
    ApprovalDecided,
    ApprovalWaiting,
    BudgetReached,
    ContinuedAsNew,
    Event,
    ModelSwitched,
    QuestionAnswered,
    QuestionAsked,
    Reply,
    RunEnded,
    RunEvent,
    StepDone,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnInterrupted,
    TurnStarted,
    UserMessage,
)
from tether._public import rehome_all
from tether._subscribe import EventsUnavailable, subscribe

__all__ = [
    "ApprovalDecided",
    "ApprovalWaiting",
    "BudgetReached",
    "ContinuedAsNew",
    "Event",
    "EventsUnavailable",
    "ModelSwitched",
    "QuestionAnswered",
    "QuestionAsked",
    "Reply",
    "RunEnded",
    "RunEvent",
    "StepDone",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnInterrupted",
    "TurnStarted",
    "UserMessage",
    "subscribe",
]
rehome_all(globals(), __all__)
