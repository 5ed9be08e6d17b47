"""Declaring tools: schemas from types, descriptions from docstrings, validation."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest
from pydantic import BaseModel
from temporalio.common import RetryPolicy

from tether import ToolContext, ToolError, tool
from tether._tools import truncate

CTX = ToolContext(idempotency_key="wf:1:call_1", workflow_id="wf", tool_call_id="call_1")


class Quote(BaseModel):
    sku: str
    price: float


@tool
def quote(sku: str, quantity: int = 1) -> Quote:
    """Price a quantity of one product."""
    if sku == "missing":
        raise ToolError(f"no product {sku!r}")
    return Quote(sku=sku, price=2.5 * quantity)


@tool(side_effects=True, description="Charge a card.")
async def charge(ctx: ToolContext, amount: float) -> str:
    return f"charged {amount} with key {ctx.idempotency_key}"


def test_schema_comes_from_types_and_docstring_and_is_strict() -> None:
    schema = quote.openai_schema()["function"]
    assert schema["name"] == "quote"
    assert schema["description"] == "Price a quantity of one product."
    assert schema["strict"] is True
    # Strict mode: every property required, optional ones nullable with the default told.
    assert schema["parameters"] == {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "quantity": {
                "anyOf": [{"type": "integer"}, {"type": "null"}],
                "description": "Default when null: 1.",
            },
        },
        "required": ["sku", "quantity"],
        "additionalProperties": False,
    }


def test_context_is_injected_not_shown_to_the_model() -> None:
    params = charge.openai_schema()["function"]["parameters"]
    assert list(params["properties"]) == ["amount"]
    assert charge.spec.side_effects is True
    assert charge.openai_schema()["function"]["description"] == "Charge a card."


def test_a_tool_cannot_change_the_context_it_is_given() -> None:
    # Who the run acts for, its key, its approval: a tool reads them and changes none.
    with pytest.raises(AttributeError):
        CTX.acting_for = "someone else"  # type: ignore[misc]
    # Made by hand (a tool's own unit test), it is a first attempt.
    assert CTX.attempt == 1


async def test_invoke_validates_then_runs() -> None:
    ok = await quote.invoke(json.dumps({"sku": "tea", "quantity": 4}), CTX)
    assert ok.error is None
    assert json.loads(ok.content) == {"sku": "tea", "price": 10.0}
    charged = await charge.invoke('{"amount": 3}', CTX)
    assert charged.content == "charged 3.0 with key wf:1:call_1"


@pytest.mark.parametrize(
    ("arguments", "kind", "text"),
    [
        ("{oops", "malformed_arguments", "not valid JSON"),
        ('{"sku": "tea", "quantity": "many"}', "invalid_arguments", "quantity: Input should be"),
        ('{"sku": "tea", "colour": "red"}', "invalid_arguments", "colour: Extra inputs"),
        ('{"sku": "missing"}', "tool_error", "Error: no product 'missing'"),
    ],
)
async def test_bad_calls_become_explained_outcomes(arguments: str, kind: str, text: str) -> None:
    outcome = await quote.invoke(arguments, CTX)
    assert outcome.error == kind
    assert text in outcome.content


async def test_infrastructure_errors_propagate_for_temporal_to_retry() -> None:
    @tool
    def flaky() -> str:
        """Always fails like a dropped database connection."""
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        await flaky.invoke("{}", CTX)


def test_a_tool_needs_a_description_and_type_hints() -> None:
    def undocumented(x: int) -> int:
        return x

    def untyped(x):  # type: ignore[no-untyped-def]
        """Has no hint."""

    with pytest.raises(ValueError, match="has no description"):
        tool(undocumented)
    with pytest.raises(TypeError, match="parameter 'x' needs a type hint"):
        tool(untyped)


def test_fast_tools_cannot_act_or_wait_for_approval() -> None:
    def refund() -> str:
        """Refund."""
        return ""

    with pytest.raises(ValueError, match=r"fast=True is for read-only.*drop fast=True"):
        tool(fast=True, side_effects=True)(refund)
    with pytest.raises(ValueError, match="fast=True is for read-only"):
        tool(fast=True, needs_approval=True)(refund)
    with pytest.raises(ValueError, match="cannot heartbeat"):
        tool(fast=True, heartbeat_timeout=timedelta(seconds=5))(refund)
    with pytest.raises(ValueError, match="tool 'refund': timeout must be positive"):
        tool(timeout=timedelta(0))(refund)
    spec = tool(needs_approval=True, retry=RetryPolicy(maximum_attempts=2))(refund).spec
    assert (spec.needs_approval, spec.fast, spec.retry.max_attempts) == (True, False, 2)


def test_truncate_keeps_whole_characters_and_tells_the_model() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("é" * 10, 5)  # 20 bytes; byte 5 falls inside a character
    assert cut.startswith("éé\n\n[Truncated: this result was 20 bytes")
    assert "first 5 are shown" in cut


async def test_cancelling_a_sync_tool_waits_for_its_thread_to_finish() -> None:
    release, finished = threading.Event(), threading.Event()

    @tool
    def blocking() -> str:
        """Block until released, like a slow database call."""
        release.wait(timeout=5)
        finished.set()
        return "done"

    call = asyncio.create_task(blocking.invoke("{}", CTX))
    await asyncio.sleep(0.1)
    call.cancel()
    await asyncio.sleep(0.1)
    assert not call.done(), "the cancellation must wait for the thread"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert finished.is_set()
