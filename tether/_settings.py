"""Worker-side settings read from the environment, with errors that say what to set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, get_args

from tether._redaction import redact

if TYPE_CHECKING:
    from tether._scripted_llm.steps import Responder

DEFAULT_TASK_QUEUE = "tether"
# The model name the offline scripted model answers to.
OFFLINE_MODEL = "tether-scripted"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_UI_URL = "http://localhost:8233"


class ConfigurationError(ValueError):
    """A configuration mistake; its message says how to fix it."""


def task_queue() -> str:
    return os.environ.get("TETHER_TASK_QUEUE") or DEFAULT_TASK_QUEUE


def ui_url() -> str:
    return (os.environ.get("TETHER_UI_URL") or DEFAULT_UI_URL).rstrip("/")


# The wire formats the LLM activity speaks: chat completions, OpenAI's Responses API.
Api = Literal["chat", "responses"]

NO_MODEL = (
    "no model configured: set OPENAI_API_KEY (or OPENAI_BASE_URL and TETHER_MODEL for "
    "another OpenAI-compatible server), or run the offline scripted model with "
    "`tether worker --offline` (TETHER_OFFLINE=1) or LlmSettings.scripted()"
)


@dataclass(frozen=True)
class LlmSettings:
    """Where the LLM activity sends requests. The key stays in the worker process.

    Build it with `LlmSettings.from_env()` (what `TetherPlugin` does when given none),
    `LlmSettings.scripted()` for the offline scripted model, or directly.

    Args:
        base_url: An OpenAI-compatible endpoint; None is OpenAI's.
        api_key: The key sent with each request (local servers ignore it).
        model: The model of agents that name none.
        offline: Serve the offline scripted model (see `scripted`).
        scripts: For the offline model: a responder per agent name that plays that
            agent's conversations (see `tether.testing.ScriptedLLM`).
        api: The wire format of agents whose `LlmPolicy` chooses none: `chat` (chat
            completions) or `responses` (TETHER_LLM_API).
    """

    base_url: str | None
    api_key: str
    model: str
    offline: bool = False
    scripts: Mapping[str, Responder] | None = field(default=None, compare=False)
    api: Api = "chat"

    def __repr__(self) -> str:  # never print the key
        shown = redact(self.base_url) if self.base_url else None
        return f"LlmSettings(base_url={shown!r}, model={self.model!r})"

    @classmethod
    def scripted(cls, scripts: Mapping[str, Responder] | None = None) -> LlmSettings:
        """The offline scripted model: a worker runs it on loopback while it runs, and
        it answers each agent with its script (an agent without one is told so). For
        demos and trying an agent without a provider; tests use `tether.testing`."""
        return cls(
            base_url=None, api_key="offline", model=OFFLINE_MODEL, offline=True, scripts=scripts
        )

    @classmethod
    def from_env(cls) -> LlmSettings:
        """OPENAI_API_KEY / OPENAI_BASE_URL / TETHER_MODEL / TETHER_LLM_API.

        Raises:
            ConfigurationError: neither OPENAI_API_KEY nor OPENAI_BASE_URL is set, or
                OPENAI_BASE_URL is set without TETHER_MODEL.
        """
        base_url = os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY") or None
        model = os.environ.get("TETHER_MODEL") or None
        api = _api_env()
        if base_url is None and api_key is None:
            raise ConfigurationError(NO_MODEL)
        if model is None:
            if base_url is not None:
                raise ConfigurationError(
                    f"OPENAI_BASE_URL is set ({redact(base_url)}) but TETHER_MODEL is not: "
                    "set TETHER_MODEL to a model that server serves"
                )
            model = DEFAULT_OPENAI_MODEL
        # Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the client needs one.
        return cls(base_url=base_url, api_key=api_key or "unused", model=model, api=api)


def _api_env() -> Api:
    raw = os.environ.get("TETHER_LLM_API", "").strip() or "chat"
    for api in get_args(Api):
        if raw == api:
            return api  # type: ignore[no-any-return]
    raise ConfigurationError(f"TETHER_LLM_API must be chat or responses, got {raw!r}")


# A model call's attempt may take 120 s and a tool's 60 s by default; most take seconds.
# A minute lets nearly every one finish; compose's stop_grace_period gives 10 s more.
GRACEFUL_SHUTDOWN = timedelta(seconds=60)
MAX_GRACEFUL_SHUTDOWN = timedelta(hours=1)


@dataclass(frozen=True)
class WorkerTuning:
    """How much work one worker process takes on, and how it stops; the defaults are the
    SDK's.

    Args:
        max_concurrent_activities: Activities (model and tool calls) at once. Lower it
            when the LLM provider rate-limits you: each call holds a slot throughout.
        max_concurrent_workflow_tasks: Workflow tasks at once (at least 2).
        max_cached_workflows: Runs kept in memory, which then need no replay of their
            history; at least as many as the workflow task slots.
        graceful_shutdown: How long a stopping worker (SIGTERM) lets its in-flight model
            calls and tools run before it cancels them (each cancelled one is paid again
            on another worker). The SDK's zero cancels at once; `from_env` (what `tether
            worker` reads) defaults to a minute.
        max_concurrent_llm_calls: Model calls at once, tools aside (None: no limit of
            their own). For a server with few slots (a local model): the calls beyond it
            wait in Temporal, where their timeouts do not run, not inside the server.
    """

    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100
    max_cached_workflows: int = 1000
    graceful_shutdown: timedelta = timedelta(0)
    max_concurrent_llm_calls: int | None = None

    def __post_init__(self) -> None:
        if self.max_concurrent_llm_calls is not None and self.max_concurrent_llm_calls < 1:
            raise ConfigurationError("TETHER_MAX_CONCURRENT_LLM_CALLS must be at least 1")
        if self.max_concurrent_workflow_tasks < 2:
            # Documented by the SDK (sticky queues need a spare slot), not checked by it.
            raise ConfigurationError(
                "TETHER_MAX_CONCURRENT_WORKFLOW_TASKS must be at least 2: the workflow "
                "cache's sticky queue needs a spare slot"
            )
        if not timedelta(0) <= self.graceful_shutdown <= MAX_GRACEFUL_SHUTDOWN:
            raise ConfigurationError(
                "TETHER_GRACEFUL_SHUTDOWN_SECONDS must be between 0 and "
                f"{MAX_GRACEFUL_SHUTDOWN.total_seconds():g}, got "
                f"{self.graceful_shutdown.total_seconds():g}"
            )
        if self.max_cached_workflows < self.max_concurrent_workflow_tasks:
            # A run the cache cannot keep waits out a workflow-task timeout per task.
            raise ConfigurationError(
                f"TETHER_MAX_CACHED_WORKFLOWS ({self.max_cached_workflows}) is below "
                f"TETHER_MAX_CONCURRENT_WORKFLOW_TASKS ({self.max_concurrent_workflow_tasks}): "
                "the worker would take on runs it cannot keep, each waiting out a 10 s "
                "workflow-task timeout; cache at least as many runs as there are task slots"
            )

    @classmethod
    def from_env(cls) -> WorkerTuning:
        """TETHER_MAX_CONCURRENT_ACTIVITIES / _WORKFLOW_TASKS / _LLM_CALLS,
        TETHER_MAX_CACHED_WORKFLOWS and TETHER_GRACEFUL_SHUTDOWN_SECONDS. A cache set below
        the default task slots lowers the slots to match."""
        defaults = cls()
        cached = _int_env("TETHER_MAX_CACHED_WORKFLOWS", defaults.max_cached_workflows, minimum=2)
        llm_calls = _int_env("TETHER_MAX_CONCURRENT_LLM_CALLS", 0, minimum=1)
        return cls(
            max_concurrent_llm_calls=llm_calls or None,
            max_concurrent_activities=_int_env(
                "TETHER_MAX_CONCURRENT_ACTIVITIES", defaults.max_concurrent_activities, minimum=1
            ),
            max_concurrent_workflow_tasks=_int_env(
                "TETHER_MAX_CONCURRENT_WORKFLOW_TASKS",
                min(defaults.max_concurrent_workflow_tasks, cached),
                minimum=2,
            ),
            max_cached_workflows=cached,
            graceful_shutdown=timedelta(
                seconds=_seconds_env(
                    "TETHER_GRACEFUL_SHUTDOWN_SECONDS", GRACEFUL_SHUTDOWN.total_seconds()
                )
            ),
        )


SDK_DEFAULTS = WorkerTuning()


def _seconds_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None


def _int_env(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value: int | None = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigurationError(f"{name} must be a whole number >= {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Deployment:
    """The Worker Deployment a worker belongs to, and its build (Worker Versioning).

    A versioned worker pins each run it starts to its build: the run finishes on that
    build's workers however many newer builds are deployed meanwhile, so workflow code
    can change without `workflow.patched`. A chat moves to the deployment's current
    build when it next continues-as-new.
    """

    name: str
    build_id: str

    def __post_init__(self) -> None:
        if not self.name or "." in self.name:
            raise ConfigurationError(
                f"the deployment name {self.name!r} must be non-empty and have no '.'"
            )
        if not self.build_id:
            raise ConfigurationError(
                "a deployment needs a build id (--build-id or TETHER_BUILD_ID)"
            )

    @classmethod
    def from_env(cls) -> Deployment | None:
        """TETHER_DEPLOYMENT_NAME and TETHER_BUILD_ID, both or neither."""
        name = os.environ.get("TETHER_DEPLOYMENT_NAME", "").strip()
        build = os.environ.get("TETHER_BUILD_ID", "").strip()
        if not name and not build:
            return None
        if not name or not build:
            raise ConfigurationError(
                "set both TETHER_DEPLOYMENT_NAME and TETHER_BUILD_ID for a versioned worker, "
                "or neither"
            )
        return cls(name, build)
