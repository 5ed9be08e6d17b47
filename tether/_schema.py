"""Strict JSON schemas for function calling, and the rule that null means "the default".

OpenAI's strict function calling (`"strict": true`) guarantees the model's arguments
match the schema, but only for a subset of JSON schema: every object sets
`additionalProperties: false` and lists all its properties in `required`, and no keyword
may sit beside a `$ref`. An optional parameter therefore becomes required and nullable:
the model sends null to mean "use the default", and `drop_nulls_for_defaults` turns that
back into an omitted field before pydantic validates, so the default applies.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from pydantic import BaseModel

Schema = dict[str, Any]


class StrictSchemaError(TypeError):
    """A parameter type that strict function calling cannot express."""


def strict_schema(schema: Schema) -> Schema:
    """A copy of a pydantic JSON schema that OpenAI's strict mode accepts."""
    strict: Schema = _strict(schema, schema.get("$defs", {}))
    return strict


def drop_nulls_for_defaults(model: type[BaseModel], data: Any) -> Any:
    """Drop the null values of `model`'s optional fields (recursing into nested models),
    so pydantic applies their defaults."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:  # an unknown key: validation reports it
            out[key] = value
        elif value is None and not field.is_required():
            continue
        else:
            out[key] = _descend(field.annotation, value)
    return out


def _descend(annotation: Any, value: Any) -> Any:
    models = _models_in(annotation)
    if len(models) != 1:  # a union of several models: leave the value to pydantic
        return value
    if isinstance(value, list):
        return [drop_nulls_for_defaults(models[0], v) for v in value]
    return drop_nulls_for_defaults(models[0], value)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _strict(node: Any, defs: Schema) -> Any:
    if isinstance(node, list):
        return [_strict(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node and len(node) > 1:
        # Strict mode rejects keywords beside a $ref: inline the definition instead.
        node = {**_resolve(node.pop("$ref"), defs), **node}
    node.pop("title", None)
    if "default" in node:
        # Strict mode has no defaults: the model sends null and we apply the default.
        default = node.pop("default")
        if default is not None:
            note = f"Default when null: {json.dumps(default)}."
            node["description"] = f"{node['description']} {note}" if "description" in node else note
    if node.get("type") == "object":
        _strict_object(node, defs)
    for key in ("items", "anyOf", "allOf", "prefixItems"):
        if key in node:
            node[key] = _strict(node[key], defs)
    if "$defs" in node:
        node["$defs"] = {name: _strict(d, defs) for name, d in node["$defs"].items()}
    return node


def _strict_object(node: Schema, defs: Schema) -> None:
    if "properties" not in node or node.get("additionalProperties") not in (None, False):
        raise StrictSchemaError(
            "free-form objects (dict[...]) cannot be sent with strict function calling: "
            "declare a pydantic model with named fields instead"
        )
    required = set(node.get("required", []))
    properties = {}
    for name, prop in node.get("properties", {}).items():
        prop = _strict(prop, defs)
        properties[name] = prop if name in required else _nullable(prop)
    node["properties"] = properties
    node["required"] = list(properties)
    node["additionalProperties"] = False


def _nullable(prop: Schema) -> Schema:
    if _allows_null(prop):
        return prop
    if "anyOf" in prop:
        return {**prop, "anyOf": [*prop["anyOf"], {"type": "null"}]}
    inner = dict(prop)
    description = inner.pop("description", None)
    wrapped: Schema = {"anyOf": [inner, {"type": "null"}]}
    if description is not None:
        wrapped["description"] = description
    return wrapped


def _allows_null(prop: Schema) -> bool:
    kind = prop.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(p) for p in prop.get("anyOf", []))


def _resolve(ref: str, defs: Schema) -> Schema:
    name = ref.removeprefix("#/$defs/")
    if name not in defs:
        raise StrictSchemaError(f"cannot resolve {ref!r} in the tool's schema")
    resolved: Schema = defs[name]
    return resolved
