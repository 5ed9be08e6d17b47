"""What the workflow and its activities send each other: activity names, requests
and replies. Every activity takes one model and returns one (fields can be added with
defaults without breaking running workflows). Nothing here holds a secret: API keys
live in the worker's environment and never enter workflow inputs, results or history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tether._approval_policy import CallUnderReview
from tether._messages import Message, ToolCall, Usage
from tether._records import AgentSpec
from tether._run_io import ApprovalDecision, JudgeVerdict

# Activity names, shared by their definitions (worker) and the workflow that calls them.
DESCRIBE_AGENT_ACTIVITY = "tether.describe_agent"
LLM_ACTIVITY = "tether.llm"
TOOL_ACTIVITY = "tether.tool"
# The LLM activity could not rebuild the run's conversation (the workflow resends it).
CONVERSATION_LOST = "ConversationLost"
# The first detail of a first call's error once the agent's retry policy has no attempt
# left (the call itself ran under LlmPolicy's default policy).
ATTEMPTS_RAN_OUT = "attempts-ran-out"
MCP_TOOL_ACTIVITY = "tether.mcp_tool"
JUDGE_ACTIVITY = "tether.judge"
CHECK_ACTIVITY = "tether.approval_check"


class LlmRequest(BaseModel):
    """One model call. Only what the history does not hold already: the tool schemas are
    the agent's as the run recorded them (`digest`), and the conversation is the run's
    earlier requests plus `messages` (see _activities/conversations.py)."""

    agent: str
    digest: str | None = Field(default=None, description="The run's `AgentSpec.digest`.")
    model: str
    messages: list[Message] = Field(description="The messages after the first `known`.")
    turn: int
    known: int = Field(
        default=0, ge=0, description="Messages of the run's conversation sent by earlier calls."
    )
    summary: bool = Field(
        default=False,
        description="A call that summarizes the conversation (a context policy's): the "
        "model is sent no tools and no output schema.",
    )
    stream: bool = Field(
        default=False, description="Stream the reply's text to the run's event feed."
    )
    priced: bool = Field(
        default=False,
        description="The run has a cost budget: refuse a model the worker has no price for.",
    )
    first: bool = Field(
        default=False,
        description="The run's first model call, made before it has recorded its agent: "
        "the worker takes the agent's spec as `tether.describe_agent` gives it, sends its "
        "instructions before `messages`, calls `model` (or, if empty, the agent's) and "
        "returns the spec with the reply (`LlmReply.spec`), for the run to follow; "
        "`stream` then asks to stream if the agent's policy does.",
    )


class LlmReply(BaseModel):
    """One model call's answer (`Pipeline.ask` returns it): the assistant's message, its
    usage and cost, why it stopped, and a structured answer or why it was invalid."""

    message: Message
    usage: Usage
    finish_reason: str | None = None
    cost_usd: float | None = None
    output: dict[str, Any] | None = Field(
        default=None, description="A final answer validated against the agent's output type."
    )
    output_error: str | None = Field(
        default=None, description="Why a final answer failed that validation."
    )
    worker_queue: str | None = Field(
        default=None,
        description="The task queue only the worker that made this call polls, set once "
        "a call landed away from the worker that held the run's conversation: that worker "
        "holds it now, so the run's next model calls go there first.",
    )
    streamed: bool = Field(
        default=False,
        description="Some of the reply's text reached the run's feed as it was written "
        "(else the workflow publishes it whole).",
    )
    tools_dropped: bool = Field(
        default=False,
        description="The agent has tools, the reply calls none, and the worker found that "
        "its model server drops tools (see _activities/tool_support.py).",
    )
    spec: AgentSpec | None = Field(
        default=None,
        description="A run's first call (`LlmRequest.first`): the agent's spec the call "
        "followed, recorded here so that the run replays against it.",
    )
    declined: str | None = Field(
        default=None,
        description="A run's first call that the worker left to the run's usual path, and "
        "why (it limits its model calls, so they wait on its model queue; the run chose a "
        "model the agent does not run): `spec` only, no reply; the run calls again as the "
        "spec says (or refuses the model).",
    )


ToolErrorKind = Literal[
    "unknown_tool",
    "malformed_arguments",
    "invalid_arguments",
    "tool_error",
    "rejected",
    "unavailable",
    "unanswered",  # a question to a person (ask_person) that nobody answered in time
    "interrupted",  # an interrupt stopped the call (see _workflows/interrupts.py)
]


class ToolRequest(BaseModel):
    agent: str
    digest: str | None = Field(default=None, description="The run's `AgentSpec.digest`.")
    call: ToolCall
    idempotency_key: str = Field(
        description="Stable across retries and replays; side-effecting tools use it."
    )
    acting_for: str | None = Field(default=None, description="The run's `AgentInput.acting_for`.")
    approval: ApprovalDecision | None = Field(
        default=None, description="The decision that let this call run, if it needed one."
    )


class ToolOutcome(BaseModel):
    """A tool's answer for the model. Bad calls come back here too, explained, so the
    model can correct itself instead of the run crashing."""

    content: str
    error: ToolErrorKind | None = None


class JudgeRequest(BaseModel):
    """A policy's judge model asked about one call: all it is told is here, in history."""

    agent: str = Field(description="The run's agent.")
    judge: str = Field(description="`Judge.name`: the agent name the model server is sent.")
    model: str
    instructions: str
    question: str = Field(description="The call, its context and the rule, as JSON.")
    timeout_seconds: float = Field(gt=0)


class JudgeReply(BaseModel):
    """The judge's verdict (a reply that is none is `invalid`, never an error), and what
    the call cost."""

    verdict: JudgeVerdict
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = Field(
        default=None, description="By the worker's price table; None: it has no price."
    )


class CheckRequest(BaseModel):
    """An agent's approval check asked about one call (`check(NAME)` in a rule)."""

    agent: str
    check: str
    call: CallUnderReview


class CheckReply(BaseModel):
    holds: bool = Field(description="What the check answered.")
