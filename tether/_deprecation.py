"""Deprecations: an old name or argument keeps working for one minor release, with a
warning that names what replaces it."""

from __future__ import annotations

import warnings

REMOVED_IN = "0.3"


def deprecated(old: str, new: str, *, stacklevel: int = 4) -> None:
    """Warn that `old` is deprecated in favour of `new`; `stacklevel` points the warning
    at the user's line (the default fits a check called from the API's own function)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in Tether {REMOVED_IN}; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
