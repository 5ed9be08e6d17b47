"""What a run records of its agent (its spec), so it replays against the agent it
started with even if the definition changes while it is in flight."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

from tether._approval_policy import ApprovalPolicy
from tether._limits import DAY_SECONDS, DEFAULT_MAX_RESULT_BYTES
from tether._policies import ContextPolicy, LlmPolicy, ReplyOptions
from tether._trust import ApproverKeys

# Agent(models=[ANY_MODEL]): a run may name any model its provider serves.
ANY_MODEL = "*"

# Temporal's default maximum interval between retries: 100 times the first.
DEFAULT_MAX_INTERVAL_FACTOR = 100


class RetryRecord(BaseModel):
    """A retry policy as a run records it (the workflow turns it back into Temporal's
    `RetryPolicy`). Users give a `RetryPolicy`; this shape is what histories hold."""

    initial_interval_seconds: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=10, ge=0, description="0 retries without limit.")
    non_retryable: list[str] = Field(
        default_factory=list, description="Error types that are never retried."
    )

    def to_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=self.backoff,
            maximum_interval=timedelta(seconds=self.max_interval_seconds),
            maximum_attempts=self.max_attempts,
            non_retryable_error_types=self.non_retryable or None,
        )


# Tether 0.1's public name for it (`tether.RetryOptions`, deprecated).
RetryOptions = RetryRecord


def retry_record(policy: RetryPolicy) -> RetryRecord:
    """`policy` as a run records it; ValueError names a value Temporal would refuse."""
    initial = policy.initial_interval.total_seconds()
    maximum = policy.maximum_interval
    record: dict[str, Any] = {
        "initial_interval_seconds": initial,
        "backoff": policy.backoff_coefficient,
        "max_interval_seconds": maximum.total_seconds()
        if maximum is not None
        else initial * DEFAULT_MAX_INTERVAL_FACTOR,
        "max_attempts": policy.maximum_attempts,
    }
    if policy.non_retryable_error_types:
        record["non_retryable"] = list(policy.non_retryable_error_types)
    return RetryRecord.model_validate(record)


class LlmRecord(ReplyOptions):
    """An agent's `LlmPolicy` as a run records it (durations in seconds)."""

    timeout_seconds: float = Field(default=600.0, gt=0)
    stall_timeout_seconds: float = Field(default=120.0, gt=0)
    heartbeat_timeout_seconds: float = Field(default=10.0, gt=0)
    retry: RetryRecord = Field(default_factory=RetryRecord)
    fallback_models: list[str] = Field(default_factory=list)
    output_repairs: int = Field(default=2, ge=0)
    local_activity: bool = False
    stream: bool = True
    stream_interval_seconds: float = Field(default=0.5, ge=0.05)


def llm_record(policy: LlmPolicy) -> LlmRecord:
    """`policy` as a run records it. Only the fields the user set are recorded (the
    rest take the record's defaults, which are the policy's): a history holds no more
    than the agent says."""
    record: dict[str, Any] = {}
    for name in policy.model_fields_set:
        value = getattr(policy, name)
        if isinstance(value, timedelta):
            record[f"{name}_seconds"] = value.total_seconds()
        elif isinstance(value, RetryPolicy):
            record[name] = retry_record(value)
        else:
            record[name] = value
    return LlmRecord.model_validate(record)


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
    retry: RetryRecord = Field(
        # About 2.5 minutes of retrying (1 s doubling to 30 s): a backend down for a
        # minute costs the run that minute; after that the model is told the tool is
        # unavailable (tool_calls.py), and the run goes on.
        default_factory=lambda: RetryRecord(max_interval_seconds=30, max_attempts=10),
        description="For infrastructure failures; bad arguments and ToolErrors never retry.",
    )
    max_result_bytes: int | None = Field(
        default=None,
        ge=1,
        description="None takes the agent's max_tool_result_bytes.",
    )
    approval_policy: ApprovalPolicy | None = Field(
        default=None,
        description="How its calls are approved (it then needs approval); None takes the "
        "agent's policy if the tool needs approval.",
    )

    @property
    def gated(self) -> bool:
        """Whether its calls go through approval: a person or a policy decides each."""
        return self.needs_approval or self.approval_policy is not None


class McpTarget(BaseModel):
    """Where the call of a tool that came from an MCP server goes."""

    server: str = Field(description="The agent's name for the server (`McpServer.name`).")
    tool: str = Field(description="The server's name for the tool.")
    session: str | None = Field(
        default=None,
        description="A stateful server's session the run listed its tools in; its calls "
        "must reach that session (None: any session of the server will do).",
    )


class QuestionSpec(BaseModel):
    """How an `ask_person` tool asks: what an answer must be, for how long it waits and
    who may answer (see tether/_questions.py)."""

    answer: dict[str, Any] | None = Field(
        default=None,
        description="The JSON schema an answer must match when the model offers no "
        "choices; None: free text.",
    )
    timeout_seconds: float = Field(gt=0, description="How long a question waits.")
    answerers: list[str] | None = Field(
        default=None,
        description="Who may answer; None: the agent's approvers (anyone if it names none).",
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
    builtin: Literal["wait", "subagent", "ask_person"] | None = Field(
        default=None, description="Run by the workflow itself instead of an activity."
    )
    agent: str | None = Field(
        default=None, description="The agent a `subagent` tool runs as a child workflow."
    )
    question: QuestionSpec | None = Field(
        default=None, description="How an `ask_person` tool asks its question."
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
    llm: LlmRecord = Field(default_factory=LlmRecord)
    structured_output: bool = False
    searchable: bool = Field(
        default=False, description="The namespace has Tether's search attributes."
    )
    live_status: bool = Field(
        default=False,
        description="Keep the AgentStatus/AgentTurns/AgentTokens search attributes current "
        "at every status change (the worker's `live_status`); else a run upserts them only "
        "once it waits for an approval, and from then on.",
    )
    llm_queue: str | None = Field(
        default=None,
        description="The task queue of the worker's model calls, when it limits them "
        "(TETHER_MAX_CONCURRENT_LLM_CALLS): calls wait there for a free slot.",
    )
    approval_timeout_seconds: float = DAY_SECONDS
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    models: list[str] | None = Field(
        default=None,
        description="The models a run may choose besides the agent's own; `*`: any; None: "
        "any too (a run recorded before runs were held to their agent's models).",
    )
    approvers: list[str] | None = Field(
        default=None, description="Who may decide its calls that wait for a person; None: any."
    )
    approval_policy: ApprovalPolicy | None = Field(
        default=None,
        description="How calls of its tools that need approval are approved (a tool's own "
        "policy comes first); None: a person decides each.",
    )
    approver_keys: ApproverKeys | None = Field(
        default=None,
        description="The keys whose signed decisions the run accepts; None: a run recorded "
        "before decisions were signed, which takes the approver a decision states.",
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

    def policy_for(self, tool: ToolSpec) -> ApprovalPolicy | None:
        """The approval policy a call of `tool` is decided by: the tool's, else the
        agent's for a tool that needs approval; None: a person decides."""
        if tool.approval_policy is not None:
            return tool.approval_policy
        return self.approval_policy if tool.needs_approval else None

    def surface_digest(self) -> str:
        """The digest of what the activities act on, to set `digest` with."""
        surface: dict[str, Any] = {
            "tools": [_tool_surface(t) for t in self.tools],
            "output": self.output.model_dump() if self.output else None,
            "max_tool_result_bytes": self.max_tool_result_bytes,
            "max_tokens": self.llm.max_tokens,
        }
        # Joined only when set, so the digests of agents without them stay what their
        # runs recorded.
        if self.llm.api is not None:
            surface["api"] = self.llm.api
        if self.llm.per_model:
            surface["per_model"] = {m: o.model_dump() for m, o in self.llm.per_model.items()}
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
