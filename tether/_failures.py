"""A failure said by its cause (pure: workflow code uses it): a run failed by a tool
whose backend was down is `McpServerUnavailable: ...`, not "Activity task failed"."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, FailureError


def root_message(error: FailureError) -> str:
    """`Type: message` of what the failure chain started with."""
    found = _root(error)
    return f"{root_type(found)}: {found.message}"


def root_type(error: FailureError) -> str:
    """The type of what the failure chain started with (`ConnectionError`): all a model
    is told of a tool's failure, whose message may quote a customer or a secret."""
    found = _root(error)
    kind = found.type if isinstance(found, ApplicationError) and found.type else None
    return kind or type(found).__name__


def _root(error: FailureError) -> FailureError:
    found = error
    while isinstance(found.cause, FailureError):
        found = found.cause
    return found
