"""Declaring tools: schemas from types, descriptions from docstrings, validation."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from tether.tools import ToolContext, ToolError, tool

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


def test_schema_comes_from_types_and_docstring() -> None:
    schema = quote.openai_schema()["function"]
    assert schema["name"] == "quote"
    assert schema["description"] == "Price a quantity of one product."
    params = schema["parameters"]
    assert params["properties"]["sku"]["type"] == "string"
    assert params["properties"]["quantity"] == {
        "default": 1,
        "title": "Quantity",
        "type": "integer",
    }
    assert params["required"] == ["sku"]
    assert params["additionalProperties"] is False


def test_context_is_injected_not_shown_to_the_model() -> None:
    params = charge.openai_schema()["function"]["parameters"]
    assert list(params["properties"]) == ["amount"]
    assert charge.spec.side_effects is True
    assert charge.openai_schema()["function"]["description"] == "Charge a card."


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
