"""Logging: Tether's loggers, and the setup its CLI and `tether worker` use.

Tether logs through stdlib loggers under `tether` (structlog-style events: a message
and fields), and configures nothing itself: a process that sets up no logging sees no
line from Tether, one that does gets Tether's events with their fields as `extra`.
`configure` is the setup of Tether's own commands: structlog, one event per line, JSON
lines when stderr is not a terminal or TETHER_LOG_FORMAT=json, readable colour output
on a terminal; the Temporal SDK's stdlib logs go through the same pipeline.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from tether._codec import encrypting
from tether._redaction import configured_secrets, redact


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for Tether's module `name`, writing to the stdlib logger of that name
    whatever structlog's global configuration is (an application's, or none)."""
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return logger


def configure(level: str | None = None) -> None:
    """Set up the process's logging as Tether's commands do (see the module docstring):
    for programs of your own, configure logging your way instead."""
    level_name = (level or os.environ.get("TETHER_LOG_LEVEL") or "INFO").upper()
    fmt = os.environ.get("TETHER_LOG_FORMAT") or ("pretty" if sys.stderr.isatty() else "json")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                Redacting(configured_secrets(), hide_messages=encrypting()),
                renderer,
            ],
        )
    )
    # The SDK appends its context dict to every message; it is in the fields already.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_name)
    for noisy in ("httpx", "httpx2", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Redacting:
    """A log processor that redacts secrets and key shapes from every field; with
    `hide_messages` (payloads are encrypted, so what they hold is secret) it also drops
    exception messages, which may quote a customer's data, keeping their type and
    traceback."""

    def __init__(self, secrets: list[str], *, hide_messages: bool) -> None:
        self._secrets = secrets
        self._hide_messages = hide_messages

    def __call__(
        self, logger: object, method: str, event: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        exception = event.get("exception")
        if self._hide_messages and isinstance(exception, str):
            event["exception"] = _without_message(exception)
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = redact(value, self._secrets)
        return event


def _without_message(traceback: str) -> str:
    """A formatted traceback whose exception lines say only the exception's type."""
    lines = []
    for line in traceback.splitlines():
        kind, sep, _ = line.partition(": ")
        if sep and not line.startswith(" ") and kind.replace(".", "").isidentifier():
            line = f"{kind}: [message hidden: payloads are encrypted]"
        lines.append(line)
    return "\n".join(lines)


class ActivityLogContext(Interceptor):
    """Binds workflow id, run id, activity type and attempt to every log line an activity
    writes (structlog or stdlib, including the SDK's own)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity=info.activity_type,
            attempt=info.attempt,
        ):
            return await super().execute_activity(input)
