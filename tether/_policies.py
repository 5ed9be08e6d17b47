"""How an agent calls its model and what it sends of a long conversation: the
policies a user configures (recorded in the agent's spec, so a run keeps its own)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

# A reply's tokens unless the agent says otherwise: a weak local model otherwise writes
# until its context is full (one turn of SmolLM2 took 261 s at 13 tokens/s), and a
# capable model seldom needs more for one turn of an agent. Reasoning models count
# their reasoning in it: give them a larger cap (`ModelOptions`).
DEFAULT_MAX_TOKENS = 2048
# The wire formats the LLM activity speaks.
Api = Literal["chat", "responses"]
# What an agent does with a reply cut at its length limit (see LlmPolicy.on_truncated).
OnTruncated = Literal["accept", "continue", "fail"]


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


class ModelOptions(BaseModel):
    """What differs for one model of an agent (its own or a fallback): each field left
    None takes the agent's `LlmPolicy`."""

    max_tokens: int | None = Field(default=None, ge=1, description="Cap on each reply's tokens.")
    api: Api | None = Field(default=None, description="The wire format for this model.")


class LlmPolicy(BaseModel):
    """How an agent calls its model."""

    timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Per attempt, in total, from the moment a worker starts it (a call "
        "queued for a free model slot, see TETHER_MAX_CONCURRENT_LLM_CALLS, is not "
        "counted). A slow reply that keeps coming is given this long.",
    )
    stall_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="An attempt fails as LlmTimeout (and is retried) when the provider "
        "sends nothing for this long: before the first byte of its reply (its queue and "
        "the prompt's reading) or between two pieces of it.",
    )
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
        default=DEFAULT_MAX_TOKENS,
        ge=1,
        description="Cap on each reply's tokens, sent as max_completion_tokens "
        "(max_output_tokens on the Responses API; OpenAI, vLLM and llama.cpp honour it); "
        "None leaves the length to the provider.",
    )
    on_truncated: OnTruncated = Field(
        default="accept",
        description="A reply cut at its length limit (the cap or the context: "
        "finish_reason `length`) is marked `truncated` in the transcript, the events and "
        "the result, and then: `accept` keeps it; `continue` asks the model to go on "
        "where it stopped (up to `max_continuations` times; the pieces join into the "
        "answer); `fail` ends the run with status `truncated`.",
    )
    max_continuations: int = Field(
        default=2, ge=1, description="With on_truncated `continue`: asks per reply, at most."
    )
    api: Api | None = Field(
        default=None,
        description="`chat` (chat completions) or `responses` (OpenAI's Responses API, "
        "which carries a reasoning model's reasoning between calls); None takes the "
        "worker's TETHER_LLM_API (default `chat`).",
    )
    per_model: dict[str, ModelOptions] = Field(
        default_factory=dict,
        description="Options by model name, over the ones above (e.g. a larger cap and the "
        "Responses API for a reasoning model among the fallbacks).",
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

    def reply_cap(self, model: str) -> int | None:
        """The cap on a reply of `model`'s."""
        options = self.per_model.get(model)
        return options.max_tokens if options and options.max_tokens else self.max_tokens

    def api_for(self, model: str) -> Api | None:
        """The wire format this policy chooses for `model` (None: the worker's)."""
        options = self.per_model.get(model)
        return options.api if options and options.api else self.api


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
