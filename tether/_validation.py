"""Pydantic validation errors as one readable line (for models, users and logs)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError


def describe(error: ValidationError, *, whole: str = "value") -> str:
    """`order_id: Field required; quantity: Input should be a valid integer`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}"
        for err in error.errors(include_url=False)
    )


def json_object(text: str, *, what: str) -> dict[str, Any]:
    """`text` parsed as a JSON object; ValueError (naming `what`) if it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value
