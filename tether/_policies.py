"""What a user configures about how an agent runs: its budgets, how it calls its model,
and what it sends of a long conversation. Durations are `timedelta`s and retries
Temporal's own `RetryPolicy`; a run records them in its agent's spec (see `_records`),
so it keeps the policies it started with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, field_validator, model_validator
from temporalio.common import RetryPolicy

from tether._deprecation import deprecated
from tether._limits import MAX_TURNS_LIMIT
from tether._settings import Api


@dataclass(frozen=True)
class Budgets:
    """What a run may spend before it stops with a status that names the budget.

    On an `Agent`, a field left None takes Tether's default: 12 model calls per user
    message (`max_turns`), 1,000,000 tokens per run (`max_total_tokens`), no deadline,
    no cost limit. Given to a run (`AgentRun.start`, `tether.workflow.run_agent`, the
    CLI), each field set lowers the agent's budget for that run; it never raises it, and
    None keeps the agent's.

    Args:
        max_turns: Model calls per user message; then the run ends with `max_turns`.
        max_total_tokens: Tokens of the whole run (a chat counts across its
            continue-as-new runs, a run its sub-agents' too); then `max_tokens`.
        deadline: The run ends with `deadline_exceeded` this long after it started.
        max_cost_usd: Spend in US dollars, by the worker's price table (`TETHER_PRICES`);
            then `max_cost`. A run whose model has no price is refused at its start.
    """

    max_turns: int | None = None
    max_total_tokens: int | None = None
    deadline: timedelta | None = None
    max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        if self.max_turns is not None and not 1 <= self.max_turns <= MAX_TURNS_LIMIT:
            raise ValueError(f"max_turns must be between 1 and {MAX_TURNS_LIMIT:,}")
        if self.max_total_tokens is not None and self.max_total_tokens < 1:
            raise ValueError("max_total_tokens must be positive")
        if self.deadline is not None and self.deadline <= timedelta(0):
            raise ValueError("deadline must be positive")
        if self.max_cost_usd is not None and not self.max_cost_usd > 0:
            raise ValueError("max_cost_usd must be positive")


def default_llm_retry() -> RetryPolicy:
    """How a model call is retried unless its agent says otherwise."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=10,
    )


# A reply's tokens unless the agent says otherwise: a weak local model otherwise writes
# until its context is full, and a capable model seldom needs more for one turn of an
# agent. Reasoning models count their reasoning in it: give them a larger cap.
DEFAULT_MAX_TOKENS = 2048
# What an agent does with a reply cut at its length limit (see LlmPolicy.on_truncated).
OnTruncated = Literal["accept", "continue", "fail"]


class ModelOptions(BaseModel):
    """What differs for one model of an agent (its own or a fallback).

    Args:
        max_tokens: Cap on each reply's tokens; None takes the `LlmPolicy`'s.
        api: The wire format for this model; None takes the `LlmPolicy`'s.
    """

    model_config = ConfigDict(frozen=True)

    max_tokens: int | None = Field(default=None, ge=1)
    api: Api | None = None


class ReplyOptions(BaseModel):
    """How an agent's replies are capped, read and told: `LlmPolicy`'s fields that the
    record a run keeps of it (`_records.LlmRecord`) holds as they are."""

    max_tokens: int | None = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    on_truncated: OnTruncated = "accept"
    max_continuations: int = Field(default=2, ge=1)
    api: Api | None = None
    per_model: dict[str, ModelOptions] = Field(default_factory=dict)

    def reply_cap(self, model: str) -> int | None:
        """The cap on a reply of `model`'s."""
        options = self.per_model.get(model)
        return options.max_tokens if options and options.max_tokens else self.max_tokens

    def api_for(self, model: str) -> Api | None:
        """The wire format chosen for `model` (None: the worker's)."""
        options = self.per_model.get(model)
        return options.api if options and options.api else self.api


# The fields that were floats of seconds before durations became timedeltas.
_SECONDS_FIELDS = {
    "timeout_seconds": "timeout",
    "heartbeat_timeout_seconds": "heartbeat_timeout",
    "stream_interval_seconds": "stream_interval",
}


class LlmPolicy(ReplyOptions):
    """How an agent calls its model.

    Args:
        timeout: How long one attempt may take in total, from when a worker starts it (a
            call queued for a free model slot, TETHER_MAX_CONCURRENT_LLM_CALLS, is not
            counted): a slow reply that keeps coming is given this long.
        stall_timeout: An attempt fails as LlmTimeout (and is retried) when the provider
            sends nothing for this long: before the first byte of its reply (its queue
            and the prompt's reading) or between two pieces of it.
        heartbeat_timeout: A crashed worker's call is retried elsewhere after this long.
        retry: How failed calls are retried (Temporal's `RetryPolicy`).
        fallback_models: Tried in order when a model is not found or a call's retries
            run out.
        output_repairs: Invalid structured answers sent back for repair.
        max_tokens: Cap on each reply's tokens (2,048 by default), sent as
            max_completion_tokens (max_output_tokens on the Responses API); None leaves
            the length to the provider.
        on_truncated: A reply cut at its length limit (the cap or the context: finish
            reason `length`) is marked `truncated` in the transcript, the events and the
            result; then `accept` keeps it, `continue` asks the model to go on where it
            stopped (up to `max_continuations` times, the pieces joined into the
            answer), `fail` ends the run with status `truncated`.
        max_continuations: With on_truncated `continue`: asks per reply, at most.
        api: `chat` (chat completions) or `responses` (OpenAI's Responses API, which
            carries a reasoning model's reasoning between calls); None takes the
            worker's TETHER_LLM_API (default `chat`).
        per_model: Options by model name, over the ones above (e.g. a larger cap and
            the Responses API for a reasoning model among the fallbacks).
        local_activity: Call the model in a local activity: no trip through the server
            per call, but no heartbeats, and a worker that dies may repeat calls
            finished since the run's last workflow task (they are paid twice). For short
            calls to fast models. A run's first call, which records the agent's spec,
            is a regular activity (the run does not know the agent's policy before it).
        stream: Stream the reply's text to the run's subscribers as the model writes
            it, while someone subscribes; unwatched, nothing is streamed. Off, or with a
            local activity, subscribers get each reply's text when the call returns.
        stream_interval: How often a streamed reply's new text is sent to the run at
            most; a long reply less often (every twentieth of the time it has taken so
            far), so its cost grows with the log of its length.
    """

    model_config = ConfigDict(frozen=True)

    timeout: timedelta = timedelta(seconds=600)
    stall_timeout: timedelta = timedelta(seconds=120)
    heartbeat_timeout: timedelta = timedelta(seconds=10)
    retry: InstanceOf[RetryPolicy] = Field(default_factory=default_llm_retry)
    fallback_models: list[str] = Field(default_factory=list)
    output_repairs: int = Field(default=2, ge=0)
    local_activity: bool = False
    stream: bool = True
    stream_interval: timedelta = timedelta(milliseconds=500)

    @model_validator(mode="before")
    @classmethod
    def _seconds_and_retry_options(cls, data: Any) -> Any:
        """Accept the names and types of Tether 0.1 (floats of seconds, `RetryOptions`),
        with a DeprecationWarning."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in _SECONDS_FIELDS.items():
            if old in data:
                deprecated(f"LlmPolicy({old}=...)", f"LlmPolicy({new}=timedelta(...))")
                data[new] = timedelta(seconds=data.pop(old))
        retry = data.get("retry")
        if retry is not None and not isinstance(retry, RetryPolicy):
            to_policy = getattr(retry, "to_policy", None)
            if to_policy is not None:
                deprecated("RetryOptions", "temporalio.common.RetryPolicy")
                data["retry"] = to_policy()
        return data

    @field_validator("timeout", "stall_timeout", "heartbeat_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("stream_interval")
    @classmethod
    def _at_least_50_ms(cls, value: timedelta) -> timedelta:
        if value < timedelta(milliseconds=50):
            raise ValueError("must be at least 50 ms")
        return value


class ContextPolicy(BaseModel):
    """What the model is sent of a conversation that outgrows a budget.

    Before each model call, the messages it would be sent are estimated (four characters
    a token); over `max_tokens`, older tool results longer than `tool_result_chars` are
    elided first, then the messages before the latest `keep_recent` are summarized by a
    model call (an activity of its own), then any message still too long is cut. The
    transcript keeps every message as it was, and marks where the model's view was
    compacted. A chat with a policy carries only that view into its next run.

    Args:
        max_tokens: What one model call may be sent, estimated.
        keep_recent: The latest messages, never summarized.
        tool_result_chars: Older tool results longer than this are elided first.
        summarize: Summarize older messages with a model call; False drops them (the
            transcript keeps them).
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
