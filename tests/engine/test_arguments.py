"""The argument checker (tether/_arguments.py) that runs before a person is asked to
approve a call: each JSON Schema keyword Tether supports, with values at and beyond its
bounds; the keywords it does not enforce, refused where a tool that needs approval is
defined; and through a run, a call its schema refuses goes back to the model without
asking anyone."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentRun, tool
from tether._arguments import (
    MAX_DEPTH,
    MAX_REF_DEPTH,
    UNCHECKED,
    ArgumentsError,
    canonical,
    check,
    digest,
    parse,
    unchecked,
)
from tether._schema import strict_schema
from tether._trust import ApprovalRules
from tether._workflows.person_waits import Rules
from tether.events import ApprovalWaiting, ToolCallFinished
from tether.testing import SIGNER, ScriptedLLM, call_tools, say, wait_for_approvals, worker

OBJ: dict[str, Any] = {"type": "object"}

# (schema, values it accepts, values it refuses); each value is a whole arguments object
# {"v": value} checked against {"type": "object", "properties": {"v": schema}}.
CASES: dict[str, tuple[dict[str, Any], list[Any], list[Any]]] = {
    "type string": ({"type": "string"}, ["", "a"], [1, None, True, [], {}]),
    "type integer": ({"type": "integer"}, [0, -3, 2.0], [1.5, "1", True, None]),
    "type number": ({"type": "number"}, [0, 1.5, -2], ["1", True, None]),
    "type boolean": ({"type": "boolean"}, [True, False], [0, 1, "true", None]),
    "type null": ({"type": "null"}, [None], [0, "", False]),
    "type array": ({"type": "array"}, [[], [1]], [{}, "[]"]),
    "type object": ({"type": "object"}, [{}, {"a": 1}], [[], "{}"]),
    "type list": ({"type": ["string", "null"]}, ["a", None], [1, False]),
    "minimum": ({"type": "number", "minimum": 1}, [1, 1.0, 2], [0.999, 0, -1]),
    "maximum": ({"type": "number", "maximum": 10}, [10, 9.5, -1], [10.001, 11]),
    "exclusiveMinimum": ({"type": "number", "exclusiveMinimum": 1}, [1.001, 2], [1, 0]),
    "exclusiveMaximum": ({"type": "number", "exclusiveMaximum": 10}, [9.999, 0], [10, 11]),
    "bounds are for numbers only": (
        {"minimum": 1, "maxLength": 1, "minItems": 1},
        [False, True, None, "x", {}, 5],
        [0, "xy", []],
    ),
    "a type it does not know is the tool's to judge": ({"type": "decimal"}, ["1.5", 1, None], []),
    "minimum zero": ({"type": "integer", "minimum": 0}, [0, 5], [-1]),
    "maximum zero": ({"type": "integer", "maximum": 0}, [0, -5], [1]),
    "minLength": ({"type": "string", "minLength": 2}, ["ab", "abc"], ["", "a"]),
    "maxLength": ({"type": "string", "maxLength": 2}, ["", "ab"], ["abc"]),
    "pattern": ({"type": "string", "pattern": "^A-[0-9]+$"}, ["A-1"], ["A-", "xA-1", "a-1"]),
    "pattern searches": ({"type": "string", "pattern": "[0-9]"}, ["x1x"], ["xx"]),
    "minItems": ({"type": "array", "minItems": 1}, [[1], [1, 2]], [[]]),
    "maxItems": ({"type": "array", "maxItems": 2}, [[], [1, 2]], [[1, 2, 3]]),
    "items": ({"type": "array", "items": {"type": "integer"}}, [[], [1, 2]], [[1, "2"], ["x"]]),
    "enum": ({"enum": ["a", 1, None]}, ["a", 1, 1.0, None], ["b", 2, True, "1"]),
    "enum of false": ({"enum": [False]}, [False], [0, None]),
    "const": ({"const": 3}, [3, 3.0], [4, "3", True]),
    "const true": ({"const": True}, [True], [1, "true"]),
    "anyOf": ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, ["a", 1], [1.5, None]),
    "oneOf": (
        {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5}]},
        [1, 5.5],  # an integer below 5; a number from 5 that is not an integer
        [6, 2.5],  # both forms; neither
    ),
    "allOf": ({"allOf": [{"minimum": 1}, {"maximum": 3}]}, [1, 3], [0, 4]),
    "object required": (
        {"type": "object", "properties": {"a": {}}, "required": ["a"]},
        [{"a": 1}, {"a": None}],
        [{}, {"b": 1}],
    ),
    "object additionalProperties false": (
        {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
        [{}, {"a": 1}],
        [{"b": 1}, {"a": 1, "b": 2}],
    ),
    "object additionalProperties schema": (
        {"type": "object", "additionalProperties": {"type": "integer"}},
        [{}, {"x": 1}],
        [{"x": "1"}],
    ),
    "object additionalProperties absent": ({"type": "object"}, [{"any": "thing"}], []),
    "nested objects": (
        {
            "type": "object",
            "properties": {
                "address": {
                    "type": "object",
                    "properties": {"zip": {"type": "string", "maxLength": 5}},
                    "required": ["zip"],
                    "additionalProperties": False,
                }
            },
        },
        [{"address": {"zip": "12345"}}],
        [{"address": {}}, {"address": {"zip": "123456"}}, {"address": {"zip": "1", "x": 1}}],
    ),
    "arrays of objects": (
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1}},
                "required": ["n"],
            },
        },
        [[{"n": 1}, {"n": 2}]],
        [[{"n": 1}, {"n": 0}], [{"n": 1}, {}]],
    ),
}


def wrap(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"v": schema}}


@pytest.mark.parametrize(("schema", "good", "bad"), CASES.values(), ids=CASES.keys())
def test_each_supported_keyword_accepts_and_refuses(
    schema: dict[str, Any], good: list[Any], bad: list[Any]
) -> None:
    for value in good:
        check(wrap(schema), {"v": value})
    for value in bad:
        with pytest.raises(ArgumentsError) as refused:
            check(wrap(schema), {"v": value})
        # The problem names where it is.
        assert str(refused.value).startswith("v")


def test_refs_are_followed_into_defs_and_a_cycle_is_refused() -> None:
    schema = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}},
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    check(schema, {"item": {"n": 1}})
    with pytest.raises(ArgumentsError):
        check(schema, {"item": {"n": "one"}})
    for ref in ("#/$defs/Missing", "http://elsewhere/schema", "#/$defs/Loop"):
        broken = {"properties": {"x": {"$ref": ref}}, "$defs": {"Loop": {"$ref": "#/$defs/Loop"}}}
        with pytest.raises(ArgumentsError, match="cannot be followed"):
            check(broken, {"x": 1})


def ref_chain(links: int) -> dict[str, Any]:
    """A schema whose value is reached through `links` references, one after another."""
    defs: dict[str, Any] = {f"D{i}": {"$ref": f"#/$defs/D{i + 1}"} for i in range(links - 1)}
    defs[f"D{links - 1}"] = {"type": "integer"}
    return {"properties": {"v": {"$ref": "#/$defs/D0"}}, "$defs": defs}


def test_references_are_followed_as_deep_as_the_limit_and_no_deeper() -> None:
    check(ref_chain(MAX_REF_DEPTH), {"v": 1})
    with pytest.raises(ArgumentsError, match="cannot be followed"):
        check(ref_chain(MAX_REF_DEPTH + 1), {"v": 1})
    with pytest.raises(ArgumentsError, match="must be of type"):
        check(ref_chain(MAX_REF_DEPTH), {"v": "one"})


@pytest.mark.parametrize("keyword", ["allOf", "anyOf", "oneOf"])
def test_a_reference_cycle_that_consumes_nothing_is_refused_not_followed_forever(
    keyword: str,
) -> None:
    schema = {
        "properties": {"v": {"$ref": "#/$defs/L"}},
        "$defs": {"L": {keyword: [{"$ref": "#/$defs/L"}]}},
    }
    with pytest.raises(ArgumentsError):
        check(schema, {"v": 1})


@pytest.mark.parametrize(
    ("node", "value", "bad"),
    [
        ({"type": "array", "items": {"$ref": "#/$defs/N"}}, [[[[[]]]]], [[[[["x"]]]]]),
        (
            {"type": "object", "properties": {"x": {"$ref": "#/$defs/N"}}},
            {"x": {"x": {"x": {"x": {}}}}},
            {"x": {"x": {"x": {"x": []}}}},
        ),
        (
            {"type": "object", "additionalProperties": {"$ref": "#/$defs/N"}},
            {"a": {"b": {"c": {"d": {}}}}},
            {"a": {"b": {"c": {"d": 1}}}},
        ),
    ],
    ids=["items", "properties", "additionalProperties"],
)
def test_a_recursive_schema_follows_a_value_as_deep_as_it_goes(
    node: dict[str, Any], value: Any, bad: Any
) -> None:
    schema = {"properties": {"v": {"$ref": "#/$defs/N"}}, "$defs": {"N": node}}
    check(schema, {"v": value})
    with pytest.raises(ArgumentsError, match="must be of type"):
        check(schema, {"v": bad})


def test_no_schema_accepts_anything_and_several_problems_are_named() -> None:
    check(None, {"anything": [1, {"x": None}]})
    check({}, {"anything": 1})
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        "required": ["a", "b", "c"],
    }
    with pytest.raises(ArgumentsError) as refused:
        check(schema, {"a": "x", "b": 2})
    named = str(refused.value)
    assert all(f"{key}:" in named for key in ("a", "b", "c"))


def test_a_wrong_type_is_not_also_checked_against_the_types_bounds() -> None:
    # A string for a number: one problem (its type), not a comparison that raises.
    with pytest.raises(ArgumentsError) as refused:
        check(wrap({"type": "integer", "minimum": 1}), {"v": "0"})
    assert str(refused.value).count(";") == 0


def test_parse_refuses_what_two_readers_could_read_differently() -> None:
    assert parse("") == {}
    assert parse('{"a": 1, "b": [1.5, null]}') == {"a": 1, "b": [1.5, None]}
    for text in (
        '{"a": 1, "a": 2}',  # duplicate keys
        '{"a": {"b": 1, "b": 1}}',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e999}',
        '{"a": [1, -1e999]}',  # in a list
        '{"a": {"b": [{"c": 1e999}]}}',
        "[1]",  # not an object
        "{not json",
        "[" * 100_000,
    ):
        with pytest.raises(ArgumentsError):
            parse(text)


def test_the_digest_is_of_the_value_not_its_spelling() -> None:
    # Decisions on runs in flight carry digests made by earlier releases: the digest of
    # a value never changes.
    assert digest({"order_id": "A-1001", "reason": "broken"}) == "01cd5677d7f3a3c5"
    assert digest({"reason": "cassé ☕"}) == "d2e27597a66904ab"
    assert digest({"a": 1, "b": "é"}) == digest(parse('{ "b": "\\u00e9",\n"a": 1 }'))
    assert digest({"a": 1}) != digest({"a": 2})
    assert digest({"a": 1}) != digest({"a": "1"})


def test_the_arguments_are_shown_as_they_are_written_in_the_models_order() -> None:
    # A person reads "café", not "caf\\u00e9", and the keys in the model's order.
    assert canonical(parse('{"b": "caf\\u00e9", "a": [1, 2.5]}')) == '{"b": "café", "a": [1, 2.5]}'


# What pydantic writes for parameters a tool may have, and the keyword each becomes.
class Colour(Enum):
    RED = "red"


class Limits(BaseModel):
    low: Annotated[int, Field(ge=1)]


REFUSED_PARAMETERS: dict[str, tuple[Any, str]] = {
    "set": (set[str], "uniqueItems"),
    "multiple_of": (Annotated[int, Field(multiple_of=5)], "multipleOf"),
    "tuple": (tuple[int, str], "prefixItems"),
    "nested set": (list[set[int]], "uniqueItems"),
}


@pytest.mark.parametrize(
    ("annotation", "keyword"), REFUSED_PARAMETERS.values(), ids=list(REFUSED_PARAMETERS)
)
def test_a_tool_that_needs_approval_may_not_use_a_keyword_the_check_does_not_enforce(
    annotation: Any, keyword: str
) -> None:
    def act(value: int) -> str:
        """Act."""
        return "done"

    act.__annotations__["value"] = annotation

    with pytest.raises(ValueError, match=f"needs approval, but its parameters use {keyword}"):
        tool(needs_approval=True)(act)
    # Without approval nothing checks the arguments before the tool's own validation.
    assert tool(act).spec.parameters


def test_the_supported_parameters_a_tool_that_needs_approval_may_use() -> None:
    def act(
        count: Annotated[int, Field(ge=1, le=10)],
        ratio: Annotated[float, Field(gt=0, lt=1)],
        code: Annotated[str, Field(min_length=2, max_length=8, pattern="^[A-Z]+$")],
        tags: Annotated[list[str], Field(min_length=1, max_length=3)],
        mode: Literal["fast", "slow"],
        colour: Colour,
        limits: Limits,
        note: str | None = None,
    ) -> str:
        """Act."""
        return "done"

    spec = tool(needs_approval=True)(act).spec
    assert not unchecked(spec.parameters)
    good = {
        "count": 10, "ratio": 0.5, "code": "AB", "tags": ["x"], "mode": "fast",
        "colour": "red", "limits": {"low": 1}, "note": None,
    }  # fmt: skip
    check(spec.parameters, good)
    bad: dict[str, Any]
    for bad in (
        {"count": 11}, {"count": 0}, {"ratio": 1}, {"ratio": 0}, {"code": "A"},
        {"code": "abc"}, {"tags": []}, {"tags": ["a", "b", "c", "d"]}, {"mode": "slower"},
        {"colour": "blue"}, {"limits": {"low": 0}}, {"limits": {}}, {"extra": 1},
    ):  # fmt: skip
        with pytest.raises(ArgumentsError):
            check(spec.parameters, {**good, **bad})
    missing = dict(good)
    del missing["count"]
    with pytest.raises(ArgumentsError):
        check(spec.parameters, missing)


def test_unchecked_keywords_are_found_wherever_they_nest_and_names_are_not_keywords() -> None:
    for keyword in UNCHECKED:
        nested = {
            "type": "object",
            "properties": {"a": {"anyOf": [{"items": {"$ref": "#/$defs/X"}}]}},
            "$defs": {"X": {"additionalProperties": {keyword: 1}}},
        }
        assert unchecked(nested) == {keyword}
    # A parameter may be called "not" or "if": a name, not a keyword.
    named = strict_schema({"type": "object", "properties": {"not": {"type": "string"}}})
    assert unchecked(named) == set()


@tool(needs_approval=True)
def transfer(
    amount: Annotated[int, Field(ge=1, le=100)], to: Annotated[str, Field(pattern="^A-")]
) -> str:
    """Transfer an amount to an account."""
    return f"sent {amount} to {to}"


async def test_a_call_the_schema_refuses_goes_back_to_the_model_and_nobody_is_asked(
    ts_env: WorkflowEnvironment,
) -> None:
    agent = Agent(name="bounded", instructions="Transfer.", tools=[transfer])
    with ScriptedLLM() as llm:
        llm.enqueue(
            call_tools(("transfer", {"amount": 101, "to": "A-1"})),
            call_tools(("transfer", {"amount": 100, "to": "B-1"})),
            call_tools(("transfer", {"amount": 100, "to": "A-1"})),
            say("done"),
        )
        async with worker(
            ts_env.client, AgentRegistry([agent]), llm, queue=f"args-{uuid.uuid4().hex[:8]}"
        ) as w:
            run = await AgentRun.start(ts_env.client, "bounded", "pay", task_queue=w.task_queue)
            [call] = await wait_for_approvals(run)
            assert call.arguments == '{"amount": 100, "to": "A-1"}'
            await run.approve(call, signer=SIGNER)
            result = await run.result()
            events = [e async for e in run.events()]
    assert result.status == "completed"
    finished = [(e.turn, e.error) for e in events if isinstance(e, ToolCallFinished)]
    assert finished == [(1, "invalid_arguments"), (2, "invalid_arguments"), (3, None)]
    assert [e.turn for e in events if isinstance(e, ApprovalWaiting)] == [3]


def test_a_sub_agents_decisions_keep_each_parents_approvers() -> None:
    parent = ApprovalRules(approvers=["lead@tests"])
    anyone = ApprovalRules(approvers=None)
    rules = Rules(approvers=("child@tests",), inherited=(parent, anyone))
    assert [approvers for approvers, _ in rules.constraints()] == [
        ("child@tests",),
        ("lead@tests",),
        None,
    ]


def test_values_nest_as_deep_as_the_limit_and_no_deeper() -> None:
    def nested(lists: int) -> str:
        return '{"a": ' + "[" * lists + "]" * lists + "}"

    parse(nested(MAX_DEPTH))  # the object, then MAX_DEPTH lists inside it
    with pytest.raises(ArgumentsError, match="nested more than"):
        parse(nested(MAX_DEPTH + 1))
