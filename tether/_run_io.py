"""What a run is started with, what it reports while it runs, and how it ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field
from temporalio.contrib.workflow_streams import WorkflowStreamState

from tether._limits import MAX_NAME_CHARS, MAX_PROMPT_CHARS, MAX_TURNS_LIMIT
from tether._messages import Message, Usage
from tether._policies import Budgets
from tether._trust import ApprovalRules

RunStatus = Literal[
    "running",
    "awaiting_approval",  # a tool call waits for a human's decision
    "awaiting_answer",  # the agent asked a person a question (ask_person) and waits
    "awaiting_user",  # a chat run has answered and waits for the next message
    "completed",
    "max_turns",  # budget: model calls for one user message
    "max_tokens",  # budget: total tokens of the run, across continue-as-new
    "max_cost",  # budget: the run's spend in USD, by the worker's price table
    "deadline_exceeded",  # budget: the run's wall-clock deadline
    "invalid_output",
    "truncated",  # a reply was cut at its length limit and the agent's policy says fail
    "tools_dropped",  # answered, but the model server dropped the agent's tools
    "interrupted",  # not a chat: a person interrupted its turn and gave no message
    "failed",
    "cancelled",
]
"""Where a run is: running or waiting (`running`, `awaiting_approval`, `awaiting_answer`,
`awaiting_user`), or how it ended (`completed`, a budget's status, `invalid_output`,
`interrupted`, `failed`, `cancelled`). The `AgentStatus` search attribute holds it too."""


class JudgeVerdict(BaseModel):
    """What a policy's judge model answered on a call (see `tether.approvals.Judge`)."""

    verdict: Literal["approve", "refuse", "unsure", "invalid", "failed"] = Field(
        description="`invalid`: its reply was no verdict; `failed`: it could not be asked "
        "(the model server kept failing). Anything but `approve` asks a person."
    )
    reasoning: str = Field(description="Why, in the judge's words (or what went wrong).")
    model: str


class PolicyVerdict(BaseModel):
    """What an approval policy decided on a call, and under which rule. Set by the run
    itself: a decision a caller sends with one is refused."""

    rule: str = Field(description="The rule that matched, or `otherwise`.")
    action: Literal["allow", "deny", "ask_person", "ask_judge"]
    reason: str | None = None
    judge: JudgeVerdict | None = Field(
        default=None, description="The judge's verdict, for an `ask_judge` rule."
    )

    @property
    def decided(self) -> bool:
        """Whether the policy decided the call itself (False: it asked a person)."""
        if self.action == "ask_judge":
            return self.judge is not None and self.judge.verdict == "approve"
        return self.action in ("allow", "deny")

    @property
    def decider(self) -> str:
        """Who decided, as `tether status` shows it: `policy (rule)` or `judge (rule)`."""
        who = "judge" if self.judge is not None and self.judge.verdict == "approve" else "policy"
        return f"{who} ({self.rule})"


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
    since: datetime | None = Field(
        default=None, description="When it started waiting (UTC); None in older runs."
    )
    digest: str | None = Field(
        default=None,
        description="Digest of `arguments`: a decision must carry it, so it applies to "
        "these arguments and no others.",
    )
    policy: PolicyVerdict | None = Field(
        default=None,
        description="The approval policy's rule that asked a person (and the judge's "
        "verdict, when a judge did not approve); None without a policy.",
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
        description="Who decides: proven by `signature` (its key must be trusted to sign "
        "for this name), and checked against the agent's approvers when it names them.",
    )
    signed_at: AwareDatetime | None = Field(
        default=None, description="When the decision was signed (the signer's clock)."
    )
    key: str | None = Field(
        default=None,
        max_length=200,
        description="The signer's public key (`ssh-ed25519 AAAA...`).",
    )
    signature: str | None = Field(
        default=None,
        max_length=200,
        description="Ed25519 signature (base64) over the decision and the run and call it "
        "is for (see `tether.Signer`): what makes the approver's name a proof.",
    )
    policy: PolicyVerdict | None = Field(
        default=None,
        description="Set by the run on a decision its approval policy took (the rule, the "
        "judge's verdict); `decide` refuses a decision that carries one.",
    )


class PendingQuestion(BaseModel):
    """A question the agent asked a person (an `ask_person` call), waiting for an answer."""

    call_id: str
    tool: str
    question: str
    choices: list[str] | None = Field(
        default=None,
        description="The answers the model offered; None: any answer `answer_schema` takes.",
    )
    answer_schema: dict[str, Any] = Field(
        description="The JSON schema an answer must match (the choices as an enum, the "
        "tool's answer type, or free text).",
    )
    turn: int
    since: datetime
    expires_at: datetime = Field(description="Counts as unanswered after this (UTC).")


class QuestionAnswer(BaseModel):
    """A person's answer to a pending question, sent by the `answer` update."""

    call_id: str | None = Field(
        default=None, description="None answers the only pending question (refused if several)."
    )
    value: str = Field(
        max_length=MAX_PROMPT_CHARS,
        description="The answer as JSON (a string answer is a JSON string), checked against "
        "the question's schema before it reaches history.",
    )
    answerer: str | None = Field(
        default=None,
        max_length=MAX_NAME_CHARS,
        description="Who answers: proven by `signature` like an approver's decision, and "
        "checked against the question's answerers when it names them.",
    )
    signed_at: AwareDatetime | None = Field(
        default=None, description="When the answer was signed (the signer's clock)."
    )
    key: str | None = Field(
        default=None, max_length=200, description="The signer's public key (`ssh-ed25519 AAAA...`)."
    )
    signature: str | None = Field(
        default=None,
        max_length=200,
        description="Ed25519 signature (base64) over the answer and the run and question it "
        "is for (see `tether.Signer`).",
    )


class DecidedCall(BaseModel):
    """A decision taken in this run, by a person, by the run's approval policy, or by
    nobody in time (`RunState.decisions`)."""

    call_id: str
    tool: str
    turn: int
    approved: bool
    decided_by: str = Field(
        description="The approver's name, `policy (RULE)`, `judge (RULE)`, `timeout`, or "
        "`person` for an unnamed one."
    )
    reason: str | None = None
    digest: str | None = Field(default=None, description="Of the arguments decided on.")
    policy: PolicyVerdict | None = None
    at: datetime


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


# The generation of workflow code Tether's clients start runs for (AgentInput.generation;
# see tether/_workflows/generations.py).
INPUT_GENERATION = "2027-02"


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
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="Spend in USD per run; at most the agent's."
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
        description="Who started the run, as its starter states it: a label for the "
        "record, not a proof of identity. A decision signed for this name is refused on "
        "the run's calls when the agent names its approvers.",
    )
    parent_rules: list[ApprovalRules] = Field(
        default_factory=list,
        max_length=20,
        description="A sub-agent's run: its parents' rules for deciding calls, which a "
        "decision must satisfy besides the agent's own (they can only narrow who decides).",
    )
    generation: str | None = Field(
        default=None,
        max_length=20,
        description="Set by Tether's clients: the generation of workflow code the run is "
        f"started for ({INPUT_GENERATION!r}), so it records no patch marker. Without it the "
        "run asks the patches its code asks.",
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
    # Per-call usage and cost are in the run's history (each LLM activity's result),
    # not here: a result must not grow with the run.
    model_switches: list[ModelSwitch] = Field(default_factory=list)
    truncated: bool = Field(
        default=False,
        description="A reply the run kept was cut at its length limit (LlmPolicy.max_tokens "
        "or the model's context): the answer may be incomplete.",
    )
    tools_dropped: bool = Field(
        default=False,
        description="The model server dropped the agent's tools: the model answered "
        "without them (the run's status is then `tools_dropped` unless it called a tool).",
    )


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
    pending_questions: list[PendingQuestion] = Field(
        default_factory=list, description="Questions the agent asked a person, unanswered."
    )
    decisions: list[DecidedCall] = Field(
        default_factory=list,
        description="The latest 100 decisions on this run's calls, oldest first (since "
        "its latest continue-as-new).",
    )
    queued_messages: int = 0
    last_message: str | None = Field(default=None, description="The latest assistant text.")
    runs: int = Field(default=1, description="Runs so far, counting continue-as-new.")
    deadline: datetime | None = None
    earlier_runs: list[str] = Field(
        default_factory=list,
        description="Run ids whose `transcript` holds the conversation before this run's "
        "(a chat with a context policy); `AgentRun.transcript()` joins them.",
    )
    truncated: bool = Field(default=False, description="As in `AgentResult`.")
    tools_dropped: bool = Field(default=False, description="As in `AgentResult`.")


def budget_fields(budgets: Budgets | None) -> dict[str, Any]:
    """The `AgentInput` fields that carry a run's `budgets`: only those set, so a run's
    input (shown in the web UI) lists no nulls."""
    if budgets is None:
        return {}
    deadline = budgets.deadline.total_seconds() if budgets.deadline is not None else None
    fields = {
        "max_turns": budgets.max_turns,
        "max_total_tokens": budgets.max_total_tokens,
        "deadline_seconds": deadline,
        "max_cost_usd": budgets.max_cost_usd,
    }
    return {k: v for k, v in fields.items() if v is not None}
