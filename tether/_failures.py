"""A failure said by its cause (pure: workflow code uses it): a run failed by a tool
whose backend was down is `McpServerUnavailable: ...`, not "Activity task failed"."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, FailureError


def root_message(error: FailureError) -> str:
    """`Type: message` of what the failure chain started with."""
    found = error
    while isinstance(found.cause, FailureError):
        found = found.cause
    kind = found.type if isinstance(found, ApplicationError) and found.type else None
    return f"{kind or type(found).__name__}: {found.message}"
