"""How an agent calls its model and what it sends of a long conversation: the
policies a user configures (recorded in the agent's spec, so a run keeps its own)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy


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
