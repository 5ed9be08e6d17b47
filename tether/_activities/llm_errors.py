"""What a failed LLM call means for Temporal: retry (and when), or stop and say why.

Retryable: 408, 409, 429, 5xx, timeouts, connection errors, malformed bodies. The
provider's `retry-after-ms` or `Retry-After` (seconds or an HTTP date) becomes the
next attempt's delay: 0 means at once, anything past MAX_RETRY_AFTER (`inf` too) the
cap, and a value that is no number or date is ignored. Non-retryable: 400, 401, 403,
404, 422 and context-length errors, each with a `type` a user can read and a message
that says what to do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import openai
from temporalio.exceptions import ApplicationError

from tether._redaction import redact
from tether._scripted_llm.steps import SCRIPT_FAILED

# A provider asking for longer than this is capped: the run's retry policy still bounds
# how many attempts it gets, and a days-long header is more likely a bug than a plan.
MAX_RETRY_AFTER = timedelta(minutes=10)
# What a provider's "retry after 0" becomes (see _from_status).
RETRY_NOW = timedelta(milliseconds=1)

CONTEXT_LENGTH = re.compile(
    r"context[_ ]length|maximum context|context window|exceed_context_size|too many tokens",
    re.IGNORECASE,
)
RETRYABLE_STATUS = {408, 409, 429}

FIXES = {
    401: ("AuthenticationFailed", "check OPENAI_API_KEY"),
    403: ("PermissionDenied", "check that OPENAI_API_KEY may use this model"),
    404: (
        "ModelNotFound",
        "check the model name (TETHER_MODEL or the agent's model) and that OPENAI_BASE_URL "
        "ends in /v1",
    ),
    422: ("UnprocessableRequest", "the provider rejected the request's shape"),
}


def classify(
    error: Exception,
    *,
    model: str,
    now: datetime | None = None,
    secrets: Sequence[str] = (),
) -> ApplicationError:
    """The ApplicationError to raise for an exception from the openai client, its
    message redacted of `secrets` and key shapes (a gateway may echo the key). Raise it
    `from None`: the client's exception, unredacted, would travel along as its cause."""
    found = _classify(error, model=model, now=now or datetime.now(UTC))
    return ApplicationError(
        redact(found.message, secrets),
        type=found.type,
        non_retryable=found.non_retryable,
        next_retry_delay=found.next_retry_delay,
    )


def _classify(error: Exception, *, model: str, now: datetime) -> ApplicationError:
    if isinstance(error, openai.APITimeoutError):
        return ApplicationError(f"{model}: request timed out", type="LlmTimeout")
    if isinstance(error, openai.APIConnectionError):
        return ApplicationError(
            f"{model}: cannot connect to {error.request.url} ({error})", type="LlmUnreachable"
        )
    if isinstance(error, openai.APIStatusError):
        return _from_status(error, model, now)
    if isinstance(error, openai.APIError):
        # An error event in the middle of a streamed reply (its HTTP status was 200).
        if CONTEXT_LENGTH.search(f"{error.code} {error.type} {error.message}"):
            return _too_long(f"{model} (mid-reply)", model, error.message)
        return ApplicationError(
            f"{model}: the provider broke off its reply ({error.message})",
            type="ProviderUnavailable",
        )
    raise error


def malformed(model: str, detail: str) -> ApplicationError:
    return ApplicationError(
        f"{model}: malformed response ({detail}); retrying", type="MalformedResponse"
    )


def _from_status(error: openai.APIStatusError, model: str, now: datetime) -> ApplicationError:
    status = error.status_code
    said = _provider_message(error)
    where = f"{status} from {error.request.url}"
    if error.code == SCRIPT_FAILED:
        return ApplicationError(
            f"the scripted model could not answer: {said} (a bug in the script; see the "
            "worker's log for its traceback)",
            type="ScriptFailed",
            non_retryable=True,
        )
    if status in RETRYABLE_STATUS or status >= 500:
        kind = "RateLimited" if status == 429 else "ProviderUnavailable"
        delay = retry_after(error.response.headers, now)
        return ApplicationError(
            f"{where}: {said}",
            type=kind,
            # The SDK leaves a zero delay out of the failure, as if none had been asked
            # for, and the retry policy's backoff would apply: the shortest it keeps.
            next_retry_delay=RETRY_NOW if delay == timedelta(0) else delay,
        )
    # llama.cpp puts its reason only in the error's type (exceed_context_size_error).
    if CONTEXT_LENGTH.search(f"{error.code} {error.type} {said}"):
        return _too_long(where, model, said)
    kind, fix = FIXES.get(status, ("BadRequest", "the provider rejected the request"))
    return ApplicationError(f"{where}: {fix} ({said})", type=kind, non_retryable=True)


def _too_long(where: str, model: str, said: str) -> ApplicationError:
    return ApplicationError(
        f"{where}: the conversation is longer than {model}'s context window: shorten "
        f"the prompt or use a model with a larger context ({said})",
        type="ContextLengthExceeded",
        non_retryable=True,
    )


def retry_after(headers: object, now: datetime) -> timedelta | None:
    """The delay a provider asked for, from `retry-after-ms` or `Retry-After`, between
    zero (retry now) and MAX_RETRY_AFTER; None when neither header makes sense."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    delay: timedelta | None = None
    if (ms := get("retry-after-ms")) is not None:
        delay = _seconds(ms, scale=0.001)
    if delay is None and (value := get("retry-after")) is not None:
        delay = _seconds(value)
        if delay is None:  # not `or`: a zero delay is an answer, not a missing one
            delay = _until(value, now)
    return delay


def _seconds(value: str, scale: float = 1.0) -> timedelta | None:
    try:
        seconds = float(value) * scale
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    # Clamped before timedelta sees it: `inf` or `1e20` would overflow it.
    return timedelta(seconds=min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds()))


def _until(http_date: str, now: datetime) -> timedelta | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def _provider_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if isinstance(message, str):
            return message
    return error.message
