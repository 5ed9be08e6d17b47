"""How long one model call may take: without a byte from the provider, and in total.

A slow model and a stalled one look alike to a single timeout: a local model writing
2,000 tokens at 13 a second needs minutes, a hung server never answers. So a call is
read as a stream and bounded twice: `LlmPolicy.stall_timeout` between any two
bytes (before the first too: the provider's queue and its reading of the prompt), and
the attempt's start-to-close timeout (`LlmPolicy.timeout`) in total, which the
client gives up a little before Temporal would, so the failure is a classified,
retryable `LlmTimeout` rather than an opaque timeout. Neither runs while the call waits
in Temporal for a free model slot (TETHER_MAX_CONCURRENT_LLM_CALLS).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import openai
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether._records import LlmRecord

# The client gives up this long before Temporal's start-to-close timeout.
TOTAL_MARGIN = timedelta(seconds=2)
# A connection that takes longer than this to open will not open.
CONNECT_SECONDS = 30.0


def client_timeout(policy: LlmRecord) -> openai.Timeout:
    """The client's timeout: each read (a stream's next bytes) within the stall timeout."""
    stall = policy.stall_timeout_seconds
    return openai.Timeout(stall, connect=min(stall, CONNECT_SECONDS))


@asynccontextmanager
async def bounded(model: str, policy: LlmRecord) -> AsyncIterator[None]:
    """Run a call within the attempt's total; a stall or the total raises LlmTimeout.
    The total is the policy's timeout, or the attempt's if shorter (a run's first call
    runs under LlmPolicy's default before its agent's policy is known)."""
    limit = activity.info().start_to_close_timeout
    own = timedelta(seconds=policy.timeout_seconds)
    limit = own if limit is None else min(limit, own)
    total = None
    if limit is not None:
        total = max((limit - TOTAL_MARGIN).total_seconds(), limit.total_seconds() / 2)
    try:
        async with asyncio.timeout(total):
            yield
    except TimeoutError:
        raise ApplicationError(
            f"{model}: the reply was not complete within {total:g} s, the attempt's total "
            "(LlmPolicy.timeout); retrying",
            type="LlmTimeout",
        ) from None
    except openai.APITimeoutError:
        raise ApplicationError(
            f"{model}: nothing came from the provider for {policy.stall_timeout_seconds:g} s "
            "(LlmPolicy.stall_timeout); retrying",
            type="LlmTimeout",
        ) from None
