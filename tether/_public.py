"""Public names report their public home: `tether.Agent.__module__ == "tether"`, so
reprs, tracebacks and generated docs show the path a user imports from, not the private
module that defines the name (which may move)."""

from __future__ import annotations

import contextlib
from typing import Any

PRIVATE_PREFIX = "tether._"


def rehome(obj: Any, module: str) -> Any:
    """`obj`, reporting `module` as its module if a private Tether module defined it."""
    # A type alias (`RunStatus = Literal[...]`) reports `typing` until it is rehomed.
    home = str(getattr(obj, "__module__", ""))
    if home.startswith(PRIVATE_PREFIX) or home in ("typing", "types"):
        # An object whose module cannot be set (a builtin) is left as it is.
        with contextlib.suppress(AttributeError, TypeError):
            obj.__module__ = module
    return obj


def rehome_all(namespace: dict[str, Any], names: list[str]) -> None:
    """Rehome every public name of a public module (`namespace` is its globals())."""
    module = namespace["__name__"]
    for name in names:
        rehome(namespace[name], module)
