"""Error classification, through the real openai client against the scripted server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import openai
import pytest
from openai import AsyncOpenAI
from temporalio.exceptions import ApplicationError

from tether._activities.llm_errors import MAX_RETRY_AFTER, RETRY_NOW, classify, retry_after
from tether.testing import (
    Drop,
    Fail,
    ScriptedLLM,
    Slow,
    Step,
    context_length_exceeded,
    model_not_found,
    rate_limited,
    say,
    unauthorized,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


async def failure_for(llm: ScriptedLLM, step: Step) -> ApplicationError:
    llm.enqueue(step)
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0, timeout=1)
    with pytest.raises(openai.APIError) as raised:
        await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
    return classify(raised.value, model="gpt-test", now=NOW)


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        (Fail(500), "ProviderUnavailable"),
        (Fail(502), "ProviderUnavailable"),
        (Fail(503), "ProviderUnavailable"),
        (Fail(408), "ProviderUnavailable"),
        (Fail(409), "ProviderUnavailable"),
        (rate_limited(), "RateLimited"),
        (Drop(), "LlmUnreachable"),
        (Slow(2, say("too late")), "LlmTimeout"),
    ],
)
async def test_transient_failures_are_retryable(llm: ScriptedLLM, step: Step, kind: str) -> None:
    error = await failure_for(llm, step)
    assert error.type == kind
    assert error.non_retryable is False


@pytest.mark.parametrize(
    ("step", "kind", "advice"),
    [
        (unauthorized(), "AuthenticationFailed", "check OPENAI_API_KEY"),
        (Fail(403, "no access"), "PermissionDenied", "may use this model"),
        (model_not_found("gpt-test"), "ModelNotFound", "check the model name"),
        (Fail(422, "bad shape"), "UnprocessableRequest", "rejected the request's shape"),
        (Fail(400, "messages[0] is invalid"), "BadRequest", "messages[0] is invalid"),
        (context_length_exceeded(), "ContextLengthExceeded", "shorten the prompt"),
    ],
)
async def test_permanent_failures_stop_with_a_readable_type(
    llm: ScriptedLLM, step: Step, kind: str, advice: str
) -> None:
    error = await failure_for(llm, step)
    assert error.type == kind
    assert error.non_retryable is True
    assert advice in error.message
    assert error.message.startswith(f"{step.status} from {llm.base_url}/chat/completions")  # type: ignore[union-attr]


async def test_retry_after_headers_set_the_next_delay(llm: ScriptedLLM) -> None:
    seconds = await failure_for(llm, rate_limited(retry_after="2"))
    assert seconds.next_retry_delay == timedelta(seconds=2)
    millis = await failure_for(llm, rate_limited(retry_after_ms=1500, retry_after="9"))
    assert millis.next_retry_delay == timedelta(milliseconds=1500)
    date = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    dated = await failure_for(llm, rate_limited(retry_after=date))
    assert dated.next_retry_delay == timedelta(seconds=30)
    plain = await failure_for(llm, Fail(503))
    assert plain.next_retry_delay is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "0.5"}, timedelta(seconds=0.5)),
        ({"retry-after": "86400"}, MAX_RETRY_AFTER),
        ({"retry-after": format_datetime(NOW - timedelta(seconds=5), usegmt=True)}, timedelta(0)),
        ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_RETRY_AFTER),
        ({"retry-after-ms": "soon", "retry-after": "3"}, timedelta(seconds=3)),
        ({}, None),
    ],
)
def test_retry_after_parsing_edges(headers: dict[str, str], expected: timedelta | None) -> None:
    assert retry_after(headers, NOW) == expected


# Each value in each header: seconds for Retry-After, milliseconds for retry-after-ms.
ODD_VALUES = [
    ("inf", MAX_RETRY_AFTER),
    ("-inf", timedelta(0)),
    ("1e20", MAX_RETRY_AFTER),
    ("1e400", MAX_RETRY_AFTER),
    ("-5", timedelta(0)),
    ("0", timedelta(0)),  # retry now: an answer, not a missing header
    ("nan", None),
    ("soon", None),
    ("", None),
]


@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms"])
@pytest.mark.parametrize(("value", "expected"), ODD_VALUES, ids=[v for v, _ in ODD_VALUES])
def test_odd_retry_after_values_are_capped_or_ignored_never_raised(
    header: str, value: str, expected: timedelta | None
) -> None:
    assert retry_after({header: value}, NOW) == expected


async def test_a_zero_retry_after_reaches_temporal_as_retry_now(llm: ScriptedLLM) -> None:
    # The SDK drops a zero next_retry_delay, so "now" must be the smallest it keeps.
    now = await failure_for(llm, rate_limited(retry_after="0"))
    assert now.next_retry_delay == RETRY_NOW
    endless = await failure_for(llm, rate_limited(retry_after="inf"))
    assert endless.next_retry_delay == MAX_RETRY_AFTER
