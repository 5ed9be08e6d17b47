"""Tether's distribution on the package index, and the version installed."""

from __future__ import annotations

import importlib.metadata

# The distribution's name on the index; the import name is `tether`.
DISTRIBUTION = "tether-agents"


def installed_version() -> str:
    """The installed distribution's version ("0+unknown" when run from a bare checkout)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def extra(name: str) -> str:
    """How to install one of the distribution's extras, for error messages."""
    return f"pip install '{DISTRIBUTION}[{name}]'"
