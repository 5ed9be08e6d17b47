"""A tool's options (`@tool(...)`, `Tool(...)`, an MCP server's tools) and how a run
records them: checked for names, ranges and contradictions, with Tether 0.1's names still
taken, each with a DeprecationWarning."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict, cast

from pydantic import ValidationError
from temporalio.common import RetryPolicy

from tether._approval_policy import ApprovalPolicy
from tether._deprecation import deprecated
from tether._limits import result_bytes_limit
from tether._records import ToolOptionsSpec, retry_record
from tether._validation import describe


class ToolOptions(TypedDict, total=False):
    """The options of `@tool(...)`, `Tool(...)` and MCP servers' tools (see `Tool`)."""

    side_effects: bool
    needs_approval: bool
    fast: bool
    timeout: timedelta
    heartbeat_timeout: timedelta
    retry: RetryPolicy
    max_result_bytes: int
    approval_policy: ApprovalPolicy
    # Deprecated: the names of Tether 0.1.
    timeout_seconds: float
    heartbeat_timeout_seconds: float


def options_record(what: str, options: ToolOptions) -> ToolOptionsSpec:
    """The options as a run records them; refuses options that are unknown, out of
    range or contradict each other (`what` names the tool)."""
    options = _renamed(what, options)
    unknown = set(options) - set(ToolOptions.__annotations__)
    if unknown:
        raise TypeError(f"{what}: unknown options {sorted(unknown)}")
    gated = options.get("needs_approval") or "approval_policy" in options
    if options.get("fast") and (options.get("side_effects") or gated):
        raise ValueError(
            f"{what}: fast=True is for read-only, idempotent tools (local activities); "
            "side effects or approval need a regular activity: drop fast=True"
        )
    if options.get("fast") and options.get("heartbeat_timeout") is not None:
        raise ValueError(
            f"{what}: fast tools run as local activities, which cannot heartbeat; drop "
            "heartbeat_timeout or fast=True"
        )
    limit = options.get("max_result_bytes")
    if limit is not None and not 1 <= limit <= result_bytes_limit():
        raise ValueError(
            f"{what}: max_result_bytes must be between 1 and {result_bytes_limit():,} "
            "(a result must fit Temporal's 2 MiB payload limit; with TETHER_PAYLOAD_STORE set, "
            "64 MiB)"
        )
    recorded: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, timedelta):
            if value <= timedelta(0):
                raise ValueError(f"{what}: {name} must be positive")
            recorded[f"{name}_seconds"] = value.total_seconds()
        elif isinstance(value, RetryPolicy):
            recorded[name] = retry_record(value)
        else:
            recorded[name] = value
    try:
        return ToolOptionsSpec.model_validate(recorded)
    except ValidationError as e:
        raise ValueError(f"{what}: {describe(e, whole='options')}") from None


def _renamed(what: str, options: ToolOptions) -> ToolOptions:
    """`options` with Tether 0.1's names and types (seconds, `RetryOptions`) replaced
    by today's, each with a DeprecationWarning."""
    current: dict[str, Any] = dict(options)
    for old in ("timeout_seconds", "heartbeat_timeout_seconds"):
        if old in current:
            new = old.removesuffix("_seconds")
            deprecated(f"{old}= ({what})", f"{new}=timedelta(...)", stacklevel=5)
            current[new] = timedelta(seconds=current.pop(old))
    retry = current.get("retry")
    if retry is not None and not isinstance(retry, RetryPolicy):
        to_policy = getattr(retry, "to_policy", None)
        if to_policy is None:
            raise TypeError(f"{what}: retry must be a temporalio.common.RetryPolicy")
        deprecated(f"RetryOptions ({what})", "temporalio.common.RetryPolicy", stacklevel=5)
        current["retry"] = to_policy()
    return cast(ToolOptions, current)
