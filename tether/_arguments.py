"""A tool call's arguments as one unambiguous value: parsed strictly, checked against
the tool's schema, shown canonically and named by a digest (pure: workflow code uses
it, so a person approves exactly what then runs).

Python's json takes the last of two equal keys, so `{"order_id": "A-1001", ...,
"order_id": "A-1004"}` reads as A-1001 to a person and runs as A-1004. Here duplicate
keys, NaN and Infinity are refused, and what is shown, digested and run is the parsed
value written out again.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import re
from collections.abc import Callable
from typing import Any

DIGEST_CHARS = 16
# How deep `$ref`s may nest before the schema counts as unusable (a cycle).
MAX_REF_DEPTH = 32
# How deep arguments may nest: deeper is no tool's schema, and could exhaust the stack
# of the recursive code that reads them.
MAX_DEPTH = 64


class ArgumentsError(ValueError):
    """Arguments that are not one JSON object, or do not match the tool's schema."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ArgumentsError(f"the key {key!r} appears twice")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ArgumentsError(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    """`text` (empty: `{}`) as JSON, refusing duplicate keys, non-finite numbers, numbers
    of more digits than Python reads and values nested deeper than MAX_DEPTH
    (`ArgumentsError`); `json.JSONDecodeError` if it is not JSON at all. Total: a model
    may send any text, and workflow code parses it, so nothing else escapes."""
    try:
        value = json.loads(text or "{}", object_pairs_hook=_pairs, parse_constant=_no_constant)
    except (json.JSONDecodeError, ArgumentsError):
        raise
    except RecursionError:
        raise ArgumentsError(f"nested more than {MAX_DEPTH} deep") from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise ArgumentsError(f"not readable ({e})") from None
    _check_value(value)
    return value


def parse(text: str) -> dict[str, Any]:
    """`text` as a JSON object, refusing duplicate keys and non-finite numbers."""
    try:
        value = loads(text)
    except json.JSONDecodeError as e:
        raise ArgumentsError(f"not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ArgumentsError("not a JSON object")
    return value


def _check_value(value: Any) -> None:
    """Refuse non-finite numbers and nesting deeper than MAX_DEPTH (iteratively: the
    recursive code that later reads the value, json.dumps and the schema check, then
    stays far from Python's recursion limit)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ArgumentsError("a number is too large")  # 1e999 parses as inf
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth >= MAX_DEPTH:
            raise ArgumentsError(f"nested more than {MAX_DEPTH} deep")
        stack.extend((child, depth + 1) for child in children)


def canonical(value: dict[str, Any]) -> str:
    """The arguments as they are shown to a person and run: one key each, in the
    model's order, every string escaped the same way."""
    return json.dumps(value, ensure_ascii=False)


def digest(value: dict[str, Any]) -> str:
    """A digest of the arguments' value (independent of key order and spacing)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def digest_of(text: str) -> str:
    """The digest of arguments given as JSON text (`ArgumentsError` if they are bad)."""
    return digest(parse(text))


def check(schema: dict[str, Any] | None, value: Any, *, name: str = "") -> None:
    """Raise `ArgumentsError` naming the first few places where `value` breaks `schema`
    (`name`: what the places are named under, e.g. `answer.quantity`; default none).

    Covers what Tether's strict tool schemas use (types, properties, required,
    additionalProperties, items, enum, const, anyOf/oneOf/allOf, $ref into $defs,
    minimum/maximum and their exclusive forms, minLength/maxLength, pattern,
    minItems/maxItems). The assertions in UNCHECKED are not checked: a tool that needs
    approval is refused where it is defined if its schema uses one (`unchecked`).
    Annotations (description, title, default, examples, format) assert nothing here;
    the tool's own validation, which runs before the tool does, still checks `format`.
    """
    if not schema:
        return
    problems: list[str] = []
    _check(schema, value, name, schema, problems, 0)
    if problems:
        raise ArgumentsError("; ".join(problems[:5]))


# Assertion keywords `check` does not enforce. A person could approve a call that one of
# them then refuses, so a tool that needs approval may not use them (`unchecked`).
UNCHECKED = frozenset(
    {
        "multipleOf", "uniqueItems", "prefixItems", "additionalItems", "contains",
        "minContains", "maxContains", "minProperties", "maxProperties", "propertyNames",
        "patternProperties", "dependentRequired", "dependentSchemas", "dependencies",
        "not", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems",
        "$dynamicRef", "$recursiveRef",
    }
)  # fmt: skip
# Keywords whose value is a schema, or a list or a name-to-schema map of schemas.
_SUBSCHEMAS = ("items", "additionalProperties", "anyOf", "oneOf", "allOf")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


def unchecked(schema: Any) -> set[str]:
    """The keywords of UNCHECKED that `schema` (or any schema inside it) uses."""
    if not isinstance(schema, dict):
        return set()
    found = set(UNCHECKED & set(schema))
    inner: list[Any] = []
    for keyword in _SUBSCHEMAS:
        value = schema.get(keyword)
        inner.extend(value if isinstance(value, list) else [value])
    for keyword in _SCHEMA_MAPS:
        value = schema.get(keyword)
        if isinstance(value, dict):
            inner.extend(value.values())
    for part in inner:
        found |= unchecked(part)
    return found


def _check(
    schema: Any, value: Any, path: str, root: dict[str, Any], problems: list[str], depth: int
) -> None:
    if not isinstance(schema, dict):
        return
    where = path or "arguments"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(root, ref)
        if target is None or depth > MAX_REF_DEPTH:
            problems.append(f"{where}: the schema's reference {ref!r} cannot be followed")
            return
        _check(target, value, path, root, problems, depth + 1)
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if isinstance(options, list) and options:
            matches = sum(not _problems(o, value, path, root, depth) for o in options)
            if matches == 0 or (keyword == "oneOf" and matches > 1):
                problems.append(f"{where}: matches none of the allowed forms")
    for part in schema.get("allOf") or []:
        _check(part, value, path, root, problems, depth + 1)
    if "const" in schema and not _same(value, schema["const"]):
        problems.append(f"{where}: must be {json.dumps(schema['const'])}")
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(_same(value, e) for e in enum):
        problems.append(f"{where}: must be one of {', '.join(json.dumps(e) for e in enum)}")
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        if not any(_is(value, t) for t in allowed):
            problems.append(f"{where}: must be of type {' or '.join(map(str, allowed))}")
            return
    if isinstance(value, dict):
        _check_object(schema, value, path, root, problems, depth)
    elif isinstance(value, list):
        _check_array(schema, value, path, root, problems, depth)
    elif isinstance(value, str):
        _check_string(schema, value, where, problems)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(schema, value, where, problems)


def _check_object(
    schema: dict[str, Any],
    value: dict[str, Any],
    path: str,
    root: dict[str, Any],
    problems: list[str],
    depth: int,
) -> None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            problems.append(f"{_join(path, name)}: required")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _check(properties[name], item, _join(path, name), root, problems, depth + 1)
        elif extra is False:
            problems.append(f"{_join(path, name)}: not a parameter of this tool")
        elif isinstance(extra, dict):
            _check(extra, item, _join(path, name), root, problems, depth + 1)


def _check_array(
    schema: dict[str, Any],
    value: list[Any],
    path: str,
    root: dict[str, Any],
    problems: list[str],
    depth: int,
) -> None:
    where = path or "arguments"
    if len(value) < schema.get("minItems", 0):
        problems.append(f"{where}: at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(f"{where}: at most {schema['maxItems']} items")
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _check(items, item, f"{where}.{i}", root, problems, depth + 1)


def _check_string(schema: dict[str, Any], value: str, where: str, problems: list[str]) -> None:
    if len(value) < schema.get("minLength", 0):
        problems.append(f"{where}: at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{where}: at most {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        problems.append(f"{where}: must match {pattern!r}")


def _check_number(schema: dict[str, Any], value: float, where: str, problems: list[str]) -> None:
    bounds: list[tuple[str, Callable[[float, float], bool], str]] = [
        ("minimum", operator.ge, "at least"),
        ("maximum", operator.le, "at most"),
        ("exclusiveMinimum", operator.gt, "more than"),
        ("exclusiveMaximum", operator.lt, "less than"),
    ]
    for keyword, holds, words in bounds:
        bound = schema.get(keyword)
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            continue
        if not holds(value, bound):
            problems.append(f"{where}: must be {words} {bound}")


def _problems(schema: Any, value: Any, path: str, root: dict[str, Any], depth: int) -> list[str]:
    found: list[str] = []
    _check(schema, value, path, root, found, depth + 1)
    return found


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _is(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True  # a type this check does not know is the tool's to judge


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
