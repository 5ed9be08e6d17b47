"""What an agent run keeps between its steps, in small named pieces (workflow code:
pure data and arithmetic, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._messages import Message, Usage
    from tether._records import AgentSpec
    from tether._run_io import AgentInput, AgentResult, ModelSwitch, RunStatus
    from tether._wire import JudgeReply, LlmReply

N = TypeVar("N", int, float)


@dataclass
class Conversation:
    """What the model is sent (`messages`: with a context policy a compacted view), how
    much of it the model has been sent, and this run's `transcript`: every message as
    it was, with a note wherever the view was compacted. A run that continued a chat
    with a policy holds only its own messages; `earlier_runs` hold the rest."""

    messages: list[Message] = field(default_factory=list)
    sent: int = 0
    transcript: list[Message] = field(default_factory=list)
    earlier_runs: list[str] = field(default_factory=list)

    def add(self, *messages: Message) -> None:
        self.messages.extend(messages)
        self.transcript.extend(messages)

    def unsent(self) -> list[Message]:
        return self.messages[self.sent :]

    def results_since_user(self) -> list[tuple[str, str]]:
        """The name and result of each tool call answered since the user last spoke, as
        the tool gave it (from the transcript: a compacted view may have elided it)."""
        names: dict[str, str] = {}
        found: list[tuple[str, str]] = []
        for message in self.transcript:
            if message.role == "user":
                names, found = {}, []
            for call in message.tool_calls:
                names[call.id] = call.name
            if message.role == "tool" and message.tool_call_id in names:
                found.append((names[message.tool_call_id], message.content or ""))
        return found

    def compact(self, view: list[Message], note: Message) -> None:
        """The model is sent `view` from now on (whole, at its next call)."""
        self.messages = view
        self.sent = 0
        self.transcript.append(note)

    def answer(self) -> str | None:
        """The latest answer the model gave (not a tool-calling message)."""
        for message in reversed(self.messages):
            if message.role == "assistant" and not message.tool_calls:
                return message.content
        return None


@dataclass
class Spend:
    """What the run has used: tokens (a conversation's, across continue-as-new), this
    run's model calls and their cost, its children's cost, and model fallbacks."""

    usage: Usage = field(default_factory=Usage)
    calls: int = 0
    call_costs: list[float] = field(default_factory=list)
    carried_cost: float | None = None
    children_cost: float = 0.0
    switches: list[ModelSwitch] = field(default_factory=list)

    def add_call(self, reply: LlmReply) -> None:
        self.usage += reply.usage
        self.calls += 1
        if reply.cost_usd is not None:
            self.call_costs.append(reply.cost_usd)

    def add_judged(self, reply: JudgeReply) -> None:
        """An approval policy's judge's call: its tokens and cost count as the run's."""
        self.usage += reply.usage
        if reply.cost_usd is not None:
            self.call_costs.append(reply.cost_usd)

    def add_child(self, result: AgentResult) -> None:
        """A sub-agent's tokens and cost count as this run's."""
        self.usage += result.usage
        if result.cost_usd is not None:
            self.children_cost += result.cost_usd

    def cost(self) -> float | None:
        costs = list(self.call_costs)
        if self.carried_cost is not None:
            costs.append(self.carried_cost)
        if self.children_cost:
            costs.append(self.children_cost)
        return round(sum(costs), 8) if costs else None


@dataclass
class Limits:
    """The run's budgets, from its input or else its agent."""

    max_turns: int = 0
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    deadline: datetime | None = None
    continue_as_new_turns: int = 0

    def set_from(self, spec: AgentSpec, params: AgentInput, *, bound: bool, now: datetime) -> None:
        """The input's budgets, else the agent's. `bound` (a run from
        generations.BOUND_AND_SCOPED on): the input may lower the agent's budgets, never
        raise them. A first run's deadline counts from now; a continued run keeps the
        deadline it carried."""
        self.max_turns = params.max_turns or spec.max_turns
        self.max_total_tokens = params.max_total_tokens or spec.max_total_tokens
        self.max_cost_usd = params.max_cost_usd or spec.max_cost_usd
        self.continue_as_new_turns = params.continue_as_new_turns or spec.continue_as_new_turns
        seconds = params.deadline_seconds or spec.deadline_seconds
        if bound:
            self.max_turns = min(self.max_turns, spec.max_turns)
            self.max_total_tokens = _lower(self.max_total_tokens, spec.max_total_tokens)
            self.max_cost_usd = _lower(self.max_cost_usd, spec.max_cost_usd)
            seconds = _lower(seconds, spec.deadline_seconds)
        if params.carried is None:
            self.deadline = now + timedelta(seconds=seconds) if seconds else None

    def spent(self, spend: Spend) -> RunStatus | None:
        """The status of the budget `spend` has used up, or None (checked before each
        turn, and after each answer of a chat)."""
        limit = self.max_total_tokens
        if limit is not None and spend.usage.total_tokens >= limit:
            return "max_tokens"
        cost, max_cost = spend.cost(), self.max_cost_usd
        if max_cost is not None and cost is not None and cost >= max_cost:
            return "max_cost"
        return None

    def tokens_left(self, usage: Usage) -> int | None:
        limit = self.max_total_tokens
        return None if limit is None else limit - usage.total_tokens


@dataclass
class Inbox:
    """A chat's messages by arrival number: queued until the loop takes them, then
    answered; each `send` waits for the reply to its own number."""

    received: int = 0
    queued: list[str] = field(default_factory=list)
    answering: range = range(0)
    replies: dict[int, str] = field(default_factory=dict)
    end_requested: bool = False

    def put(self, text: str) -> int:
        """Queue a message; its number."""
        seq = self.received
        self.received += 1
        self.queued.append(text)
        return seq

    def take(self) -> list[str]:
        """The queued messages, now being answered."""
        taken = self.queued
        self.answering = range(self.received - len(taken), self.received)
        self.queued = []
        return taken

    def answered(self, reply: str) -> None:
        for seq in self.answering:
            self.replies[seq] = reply


def _lower(asked: N | None, cap: N | None) -> N | None:
    """`asked`, but no more than `cap` (None: no limit)."""
    if cap is None:
        return asked
    return cap if asked is None else min(asked, cap)
