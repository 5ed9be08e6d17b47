"""Inputs and outputs of the workflow and its activities.

Every activity takes one model and returns one (fields can be added with defaults
without breaking running workflows). Nothing here holds a secret: API keys live in the
worker's environment and never enter workflow inputs, results or history.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy
from temporalio.contrib.workflow_streams import WorkflowStreamState

from tether._messages import Message, ToolCall, Usage
from tether._storage import payload_store_configured

RunStatus = Literal[
    "running",
    "awaiting_approval",  # a tool call waits for a human's decision
    "awaiting_user",  # a chat run has answered and waits for the next message
    "completed",
    "max_turns",  # budget: model calls for one user message
    "max_tokens",  # budget: total tokens of the run, across continue-as-new
    "deadline_exceeded",  # budget: the run's wall-clock deadline
    "invalid_output",
    "failed",
    "cancelled",
]

# Activity names, shared by their definitions (worker) and the workflow that calls them.
DESCRIBE_AGENT_ACTIVITY = "tether.describe_agent"
LLM_ACTIVITY = "tether.llm"
TOOL_ACTIVITY = "tether.tool"
# The LLM activity could not rebuild the run's conversation (the workflow resends it).
CONVERSATION_LOST = "ConversationLost"
MCP_TOOL_ACTIVITY = "tether.mcp_tool"

MAX_PROMPT_CHARS = 100_000
MAX_TURNS_LIMIT = 1_000
DAY_SECONDS = 24 * 3600
DEFAULT_MAX_RESULT_BYTES = 16 * 1024
# A run's token budget unless its agent sets another (None: no limit): a run that
# loops, or a caller that asks for a long one, stops here rather than at the invoice.
DEFAULT_MAX_TOTAL_TOKENS = 1_000_000
# Temporal refuses a payload over 2 MiB (and the SDK then retries the activity until it
# gives up, failing the run). A tool result may be at most half of that, so JSON
# escaping and the codec fit; the tool activity cuts any result that still does not.
PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
MAX_RESULT_BYTES_LIMIT = PAYLOAD_LIMIT_BYTES // 2
PAYLOAD_BUDGET_BYTES = PAYLOAD_LIMIT_BYTES - 64 * 1024
# With TETHER_PAYLOAD_STORE set, large payloads go to external storage instead.
STORED_RESULT_BYTES_LIMIT = 64 * 1024 * 1024


def result_bytes_limit() -> int:
    """The largest tool result limit allowed here: 1 MiB, or 64 MiB with a payload store
    (read where agents and tools are defined: in the worker's process, its environment)."""
    return STORED_RESULT_BYTES_LIMIT if payload_store_configured() else MAX_RESULT_BYTES_LIMIT


MAX_NAME_CHARS = 200


class PendingApproval(BaseModel):
    """A tool call that waits for a human's decision."""

    call_id: str
    tool: str
    arguments: str = Field(
        description="The arguments as they will run: the model's JSON parsed (duplicate "
        "keys refused) and written out again. Runs started before Tether bound decisions "
        "to arguments show the model's text as it was sent, with no digest."
    )
    turn: int
    expires_at: datetime = Field(description="Counts as rejected after this (UTC).")
    digest: str | None = Field(
        default=None,
        description="Digest of `arguments`: a decision must carry it, so it applies to "
        "these arguments and no others.",
    )


class ApprovalDecision(BaseModel):
    """A human's decision on a pending tool call, sent by the `decide` update."""

    call_id: str | None = Field(
        default=None, description="None decides the only pending call (refused if several)."
    )
    approve: bool
    reason: str | None = Field(default=None, max_length=2_000)
    arguments: str | None = Field(
        default=None,
        max_length=MAX_PROMPT_CHARS,
        description="Approve with these JSON arguments instead of the model's (checked "
        "against the tool's schema; recorded as they run).",
    )
    digest: str | None = Field(
        default=None,
        max_length=64,
        description="The pending call's `digest`: the arguments the person was shown. "
        "Required for calls that have one.",
    )
    approver: str | None = Field(
        default=None,
        max_length=MAX_NAME_CHARS,
        description="Who decides, as the client states it; required, and checked, when "
        "the agent names its approvers.",
    )


class Carried(BaseModel):
    """What a conversation carries into its next run when it continues-as-new."""

    messages: list[Message] = Field(
        description="What the model is sent: the whole conversation, or with a context "
        "policy its compacted view (the rest is in `earlier_runs`' transcripts)."
    )
    earlier_runs: list[str] = Field(
        default_factory=list,
        description="Run ids whose transcripts hold the conversation before this run's, "
        "oldest first (empty: `messages` is the whole conversation).",
    )
    usage: Usage
    cost_usd: float | None = Field(default=None, ge=0)
    turn: int = Field(ge=0)
    deadline: datetime | None
    runs: int = Field(ge=1, description="Runs of this conversation before the next one.")
    stream: WorkflowStreamState | None = Field(
        default=None, description="The run's event feed: its offsets and latest events."
    )
    watched_until: datetime | None = Field(
        default=None, description="The end of the latest subscriber's watch lease."
    )


class AgentInput(BaseModel):
    """What a user starts a run with. Budgets left None take the agent's defaults."""

    agent: str = Field(min_length=1, description="Name of a registered agent.")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(
        default=None, description="Override the agent's model (one of its `models`, if set)."
    )
    max_turns: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TURNS_LIMIT,
        description="Model calls per user message; at most the agent's.",
    )
    max_total_tokens: int | None = Field(
        default=None, ge=1, description="Tokens per run; at most the agent's."
    )
    deadline_seconds: float | None = Field(
        default=None,
        gt=0,
        description="The run ends this long after it started (no later than the agent's deadline).",
    )
    approval_timeout_seconds: float | None = Field(
        default=None, gt=0, description="An undecided approval counts as rejected after this."
    )
    chat: bool = Field(
        default=False, description="Stay open for more messages (the `send` update)."
    )
    continue_as_new_turns: int | None = Field(
        default=None, ge=1, description="Model calls per run before a chat continues-as-new."
    )
    carried: Carried | None = Field(
        default=None,
        description="Set by the workflow itself when it continues-as-new; refused on a "
        "first start.",
    )
    acting_for: str | None = Field(
        default=None,
        max_length=MAX_NAME_CHARS,
        description="Who the run acts for (a customer, a tenant), set by whoever starts it "
        "and never by the model: every tool call sees it as `ToolContext.acting_for`.",
    )
    started_by: str | None = Field(
        default=None,
        max_length=MAX_NAME_CHARS,
        description="Who started the run, as the client states it: an agent that names "
        "its approvers refuses this one's decisions on the run's calls.",
    )


class RetryOptions(BaseModel):
    """A retry policy as plain data (the workflow turns it into Temporal's RetryPolicy)."""

    initial_interval_seconds: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=10, ge=0, description="0 retries without limit.")

    def to_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=self.backoff,
            maximum_interval=timedelta(seconds=self.max_interval_seconds),
            maximum_attempts=self.max_attempts,
        )


class LlmPolicy(BaseModel):
    """How an agent calls its model."""

    timeout_seconds: float = Field(default=120.0, gt=0, description="Per attempt.")
    heartbeat_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A crashed worker's call is retried elsewhere after this long.",
    )
    retry: RetryOptions = Field(default_factory=RetryOptions)
    fallback_models: list[str] = Field(
        default_factory=list,
        description="Tried in order when a model is not found or a call's retries run out.",
    )
    output_repairs: int = Field(
        default=2, ge=0, description="Invalid structured answers sent back for repair."
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Cap on each reply's tokens, sent as max_completion_tokens (OpenAI, "
        "vLLM and llama.cpp honour it); None leaves the length to the provider.",
    )
    local_activity: bool = Field(
        default=False,
        description="Call the model in a local activity: no trip through the server per "
        "call (a 4-call run took about half the time), but no heartbeats, and a worker "
        "that dies may repeat calls finished since the run's last workflow task (they "
        "are paid twice). For short calls to fast models.",
    )
    stream: bool = Field(
        default=True,
        description="Stream the reply's text to the run's subscribers as the model writes "
        "it, while someone subscribes (each batch is a signal: history events, see "
        "README; unwatched, nothing). Off, or with a local activity, subscribers get "
        "each reply's text at once when the call returns.",
    )
    stream_interval_seconds: float = Field(
        default=0.5,
        ge=0.05,
        description="How often a streamed reply's new text is sent to the run at most; a "
        "long reply less often (every twentieth of the time it has taken so far), so "
        "its cost grows with the log of its length.",
    )


class ModelSwitch(BaseModel):
    """A fallback decision: the run moved from one model to the next."""

    turn: int
    from_model: str
    to_model: str
    reason: str


class AgentResult(BaseModel):
    """How a run ended."""

    status: RunStatus
    answer: str | None
    output: dict[str, Any] | None = Field(
        default=None, description="The validated structured answer, for agents with one."
    )
    turns: int
    usage: Usage
    cost_usd: float | None = None
    model: str
    # Per-call usage and cost are in the run's history (each LLM activity's result):
    # a result that listed every call grew with the run, 100 B a turn.
    model_switches: list[ModelSwitch] = Field(default_factory=list)


class RunState(BaseModel):
    """A run's progress, as its `state` query reports it."""

    status: RunStatus
    agent: str
    model: str | None
    turn: int
    usage: Usage
    cost_usd: float | None = None
    messages: int
    model_switches: list[ModelSwitch] = Field(default_factory=list)
    error: str | None = None
    chat: bool = False
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    queued_messages: int = 0
    last_message: str | None = Field(default=None, description="The latest assistant text.")
    runs: int = Field(default=1, description="Runs so far, counting continue-as-new.")
    deadline: datetime | None = None
    earlier_runs: list[str] = Field(
        default_factory=list,
        description="Run ids whose `transcript` holds the conversation before this run's "
        "(a chat with a context policy); `AgentRun.transcript()` joins them.",
    )


class ContextPolicy(BaseModel):
    """What the model is sent of a conversation that outgrows a budget.

    Before each model call, the messages it would be sent are estimated (four characters
    a token); over `max_tokens`, older tool results longer than `tool_result_chars` are
    elided first, then the messages before the latest `keep_recent` are summarized by a
    model call (an activity of its own), then any message still too long is cut. The
    transcript keeps every message as it was, and marks where the model's view was
    compacted. A chat with a policy carries only that view into its next run.
    """

    max_tokens: int = Field(gt=0, description="What one model call may be sent, estimated.")
    keep_recent: int = Field(default=8, ge=1, description="The latest messages, never summarized.")
    tool_result_chars: int = Field(
        default=4000, ge=100, description="Older tool results longer than this are elided first."
    )
    summarize: bool = Field(
        default=True,
        description="Summarize older messages with a model call; False drops them (the "
        "transcript keeps them).",
    )


class ToolOptionsSpec(BaseModel):
    """The options a tool is declared with (`@tool(...)`); see `tether.Tool` for each."""

    side_effects: bool = False
    needs_approval: bool = Field(
        default=False, description="Each call waits for a human's decision first."
    )
    fast: bool = Field(
        default=False, description="Read-only, short, idempotent: runs as a local activity."
    )
    timeout_seconds: float = Field(default=60.0, gt=0)
    heartbeat_timeout_seconds: float | None = Field(
        default=None, gt=0, description="None takes the workflow's default."
    )
    retry: RetryOptions = Field(
        default_factory=lambda: RetryOptions(max_interval_seconds=30, max_attempts=5),
        description="For infrastructure failures; bad arguments and ToolErrors never retry.",
    )
    max_result_bytes: int | None = Field(
        default=None,
        ge=1,
        description="None takes the agent's max_tool_result_bytes.",
    )


class McpTarget(BaseModel):
    """Where the call of a tool that came from an MCP server goes."""

    server: str = Field(description="The agent's name for the server (`McpServer.name`).")
    tool: str = Field(description="The server's name for the tool.")
    session: str | None = Field(
        default=None,
        description="A stateful server's session the run listed its tools in; its calls "
        "must reach that session (None: any session of the server will do).",
    )


class ToolSpec(ToolOptionsSpec):
    """What the workflow needs to know to schedule a tool (its code stays in the worker),
    and what the model is shown of it, as the run recorded them."""

    name: str
    description: str = ""
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="The JSON schema of the arguments: strict for Tether's tools, the "
        "server's own for MCP tools.",
    )
    builtin: Literal["wait", "subagent"] | None = Field(
        default=None, description="Run by the workflow itself instead of an activity."
    )
    agent: str | None = Field(
        default=None, description="The agent a `subagent` tool runs as a child workflow."
    )
    strict: bool = Field(
        default=True,
        description="Ask for strict arguments; MCP tools keep their server's own schema, "
        "which strict mode would change the meaning of.",
    )
    mcp: McpTarget | None = Field(
        default=None, description="The MCP server and tool a call goes to, for MCP tools."
    )

    def openai_schema(self) -> dict[str, Any]:
        """The tool as a chat-completions `tools` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters or {"type": "object", "properties": {}},
                "strict": self.strict,
            },
        }


class OutputSpec(BaseModel):
    """An agent's structured answer: the schema the model is asked to follow."""

    name: str
    json_schema: dict[str, Any]
    native: bool = Field(
        default=True,
        description="As the provider's JSON-schema response format; False: in the prompt.",
    )


class AgentSpec(BaseModel):
    """An agent as the workflow sees it, resolved once per run and kept in history.

    Recording it makes a run replay against the agent it started with, even if the
    agent's definition changes while the run is in flight.
    """

    name: str
    instructions: str
    model: str
    max_turns: int
    tools: list[ToolSpec]
    llm: LlmPolicy = Field(default_factory=LlmPolicy)
    structured_output: bool = False
    searchable: bool = Field(
        default=False, description="The namespace has Tether's search attributes."
    )
    approval_timeout_seconds: float = DAY_SECONDS
    max_total_tokens: int | None = None
    models: list[str] | None = Field(
        default=None, description="The models a run may choose; None: any."
    )
    approvers: list[str] | None = Field(
        default=None, description="Who may decide its calls that wait for a person; None: any."
    )
    deadline_seconds: float | None = None
    continue_as_new_turns: int = 200
    output: OutputSpec | None = Field(
        default=None, description="The structured answer's schema, for agents with one."
    )
    context: ContextPolicy | None = Field(
        default=None, description="What the model is sent of a long conversation."
    )
    max_tool_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    digest: str | None = Field(
        default=None,
        description="Digest of what the activities act on (tool schemas and limits, the "
        "output schema): a worker whose agent differs reads the run's own record instead.",
    )

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)

    def surface_digest(self) -> str:
        """The digest of what the activities act on, to set `digest` with."""
        surface = {
            "tools": [_tool_surface(t) for t in self.tools],
            "output": self.output.model_dump() if self.output else None,
            "max_tool_result_bytes": self.max_tool_result_bytes,
            "max_tokens": self.llm.max_tokens,
        }
        text = json.dumps(surface, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _tool_surface(tool: ToolSpec) -> dict[str, Any]:
    """What the activities act on of one tool. The MCP fields join only for MCP tools, so
    the digests of agents without them stay what their runs recorded."""
    surface = tool.model_dump(include={"name", "description", "parameters", "max_result_bytes"})
    if tool.mcp is not None:
        # The MCP activity acts on the target, and passes the idempotency key to the
        # server only for side-effecting tools.
        surface.update(mcp=tool.mcp.model_dump(), side_effects=tool.side_effects)
    if not tool.strict:
        surface["strict"] = False
    return surface


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


class LlmReply(BaseModel):
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


ToolErrorKind = Literal[
    "unknown_tool", "malformed_arguments", "invalid_arguments", "tool_error", "rejected"
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
    approved_digest: str | None = Field(
        default=None,
        description="Digest of the arguments the person approved: the activity refuses to "
        "run other ones.",
    )


class ToolOutcome(BaseModel):
    """A tool's answer for the model. Bad calls come back here too, explained, so the
    model can correct itself instead of the run crashing."""

    content: str
    error: ToolErrorKind | None = None
