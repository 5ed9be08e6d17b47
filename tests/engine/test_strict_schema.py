"""Strict tool schemas (OpenAI strict function calling) and the null-means-default rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from tether import ToolContext, tool
from tether._schema import StrictSchemaError

CTX = ToolContext(idempotency_key="wf:1:call_1", workflow_id="wf", tool_call_id="call_1")


class Address(BaseModel):
    city: str
    zip_code: str | None = Field(default=None, description="Postal code.")


class Shipment(BaseModel):
    """Where and how to ship."""

    address: Address = Field(description="Deliver here.")
    stops: list[Address] = Field(default_factory=list)
    express: bool = False
    note: str | None = "leave at the door"


@tool
def ship(order: Shipment) -> dict[str, Any]:
    """Ship an order."""
    return order.model_dump()


def objects(node: Any) -> list[dict[str, Any]]:
    """Every object schema inside `node`."""
    if isinstance(node, list):
        return [o for n in node for o in objects(n)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") == "object" else []
    return own + [o for v in node.values() for o in objects(v)]


def test_a_tool_taking_one_model_exposes_the_models_fields_strictly() -> None:
    params = ship.openai_schema()["function"]["parameters"]
    assert list(params["properties"]) == ["address", "stops", "express", "note"]
    # Strict mode's rules hold for every object, nested ones included.
    found = objects(params)
    assert len(found) >= 2
    for obj in found:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    # A $ref with a description beside it is inlined (strict mode forbids siblings).
    address = params["properties"]["address"]
    assert "$ref" not in address
    assert address["description"] == "Deliver here."
    assert address["properties"]["zip_code"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "Postal code.",
    }
    assert params["properties"]["note"]["description"] == 'Default when null: "leave at the door".'
    assert "title" not in json.dumps(params)
    assert '"default"' not in json.dumps(params)


async def test_null_means_the_default_at_every_level() -> None:
    sent = {
        "address": {"city": "Oslo", "zip_code": None},
        "stops": [{"city": "Bergen", "zip_code": None}],
        "express": None,
        "note": None,
    }
    outcome = await ship.invoke(json.dumps(sent), CTX)
    assert outcome.error is None, outcome.content
    assert json.loads(outcome.content) == {
        "address": {"city": "Oslo", "zip_code": None},
        "stops": [{"city": "Bergen", "zip_code": None}],
        "express": False,
        "note": "leave at the door",
    }


async def test_null_for_a_required_parameter_is_explained() -> None:
    outcome = await ship.invoke(json.dumps({"address": None}), CTX)
    assert outcome.error == "invalid_arguments"
    assert "address: Input should be a valid dictionary" in outcome.content


async def test_extra_keys_are_refused_for_a_model_tool_too() -> None:
    outcome = await ship.invoke(json.dumps({"address": {"city": "Oslo"}, "colour": "red"}), CTX)
    assert outcome.error == "invalid_arguments"
    assert "colour: Extra inputs are not permitted" in outcome.content


def test_free_form_mappings_are_refused_at_declaration() -> None:
    def tag(labels: dict[str, str]) -> str:
        """Tag something."""
        return ""

    with pytest.raises(StrictSchemaError, match="declare a pydantic model"):
        tool(tag)
