"""Pydantic validation errors as one readable line (for models, users and logs)."""

from __future__ import annotations

from pydantic import ValidationError


def describe(error: ValidationError, *, whole: str = "value") -> str:
    """`order_id: Field required; quantity: Input should be a valid integer`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}"
        for err in error.errors(include_url=False)
    )
