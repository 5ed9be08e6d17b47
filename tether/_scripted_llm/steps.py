"""What the scripted model answers: steps (a reply, a fault, a pace) and the helpers that
build the common ones. Each wire format (chat.py, responses.py) renders them its way."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Say:
    """Reply with a final text answer; `reasoning` adds a reasoning item before it (the
    Responses API only: chat completions carry no reasoning)."""

    content: str
    reasoning: str | None = None


@dataclass(frozen=True)
class CallTools:
    """Reply with tool calls; arguments given as a dict are JSON-encoded, a str is sent
    verbatim (to script malformed arguments). Call ids are numbered per server
    (`call_0001`, ...) unless `ids` names them, e.g. to play a provider that reuses them."""

    calls: tuple[tuple[str, dict[str, Any] | str], ...]
    content: str | None = None
    ids: tuple[str, ...] = ()
    reasoning: str | None = None


@dataclass(frozen=True)
class Cut:
    """Reply with `content` cut off at the length limit (`finish_reason: length`, or an
    incomplete response for the Responses API), as a model that reached its reply cap
    or its context."""

    content: str


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error in the provider's error shape."""

    status: int = 500
    message: str = "scripted server error"
    code: str = "server_error"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class Garbage:
    """Answer 200 with a body that is not JSON."""


@dataclass(frozen=True)
class Raw:
    """Answer with exactly this body (a dict or list is sent as JSON, bytes as they
    are): a reply of any shape, to play a provider that sends what no schema allows."""

    body: Any
    status: int = 200


@dataclass(frozen=True)
class Slow:
    """Wait, then take the next step (past the client's timeout, the client gives up)."""

    seconds: float
    then: Step


@dataclass(frozen=True)
class Streamed:
    """Take the next step, and if it is a reply and the request asked for a stream, send
    its chunks `delay` seconds apart; `drop_after` closes the connection after that many
    chunks, as a provider that breaks off mid-reply. `pause_after` holds the stream
    after that many chunks until `resume` is set (at most a minute): a test then knows
    the reply is still being written."""

    then: Step
    delay: float = 0.0
    drop_after: int | None = None
    pause_after: int | None = None
    resume: threading.Event | None = None


Step = Say | CallTools | Cut | Fail | Drop | Garbage | Raw | Slow | Streamed
Reply = Say | CallTools | Cut
Responder = Callable[[list[dict[str, Any]]], Step]
# What the server answers an agent it has no script for, given the agent's name ("" if
# the request did not say).
Unscripted = Callable[[str], Step]
AGENT_HEADER = "X-Tether-Agent"
# Marks the request that asks whether a server passes tools to its model (see
# _activities/tool_support.py): the scripted model answers it itself, unscripted.
PROBE_HEADER = "X-Tether-Probe"
# The error code of a reply whose script raised (see llm_errors: not retried).
SCRIPT_FAILED = "script_failed"
OFFLINE_NOTE = "[offline scripted model — set OPENAI_API_KEY or OPENAI_BASE_URL for a real one]"


@dataclass(frozen=True)
class Chaos:
    """Inject `fault` into each request with probability `rate` (seeded, repeatable).
    A faulted request does not consume a scripted step: its retry gets the same one."""

    rate: float
    fault: Step = Fail(500)
    seed: int = 0


def no_script(agent: str) -> Say:
    """The offline model's answer to an agent it has no script for: says so, instead of
    pretending to be some other agent."""
    who = f"agent {agent!r}" if agent else "this agent"
    return Say(
        f"There is no offline script for {who}, so this is not a real answer. Give the "
        f"worker a model (OPENAI_API_KEY or OPENAI_BASE_URL, and TETHER_MODEL), or a script "
        f"for it: AgentRegistry(..., scripts={{{agent!r}: responder}}).\n{OFFLINE_NOTE}"
    )


def say(content: str) -> Say:
    """A reply with a final text answer."""
    return Say(content)


def call_tools(*calls: tuple[str, dict[str, Any] | str], ids: Sequence[str] = ()) -> CallTools:
    """A reply that calls tools: `call_tools(("lookup", {"id": 1}), ("quote", {}))`;
    `ids=("call_a", ...)` names the first calls' ids (the rest are numbered)."""
    return CallTools(tuple(calls), ids=tuple(ids))


def rate_limited(*, retry_after: str | None = None, retry_after_ms: int | None = None) -> Fail:
    """429, with `Retry-After` (seconds or an HTTP date) and/or `retry-after-ms`."""
    headers = []
    if retry_after is not None:
        headers.append(("Retry-After", retry_after))
    if retry_after_ms is not None:
        headers.append(("retry-after-ms", str(retry_after_ms)))
    return Fail(429, "Rate limit reached, slow down.", "rate_limit_exceeded", tuple(headers))


def unauthorized() -> Fail:
    """401, as a provider answers a wrong API key."""
    return Fail(401, "Incorrect API key provided.", "invalid_api_key")


def model_not_found(model: str) -> Fail:
    """404 for `model`, as OpenAI answers a model it does not have."""
    return Fail(404, f"The model `{model}` does not exist.", "model_not_found")


def context_length_exceeded() -> Fail:
    """400 context_length_exceeded, as OpenAI answers a conversation too long."""
    return Fail(
        400,
        "This model's maximum context length is 8192 tokens; your messages resulted in "
        "9000 tokens. Please reduce the length of the messages.",
        "context_length_exceeded",
    )


def estimate_tokens(text: str) -> int:
    """About four characters per token: deterministic, good enough for budgets."""
    return max(1, len(text) // 4)
