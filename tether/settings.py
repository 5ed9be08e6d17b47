"""Worker-side settings read from the environment, with errors that say what to set."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tether.scripted_llm import OFFLINE_MODEL

DEFAULT_TASK_QUEUE = "tether"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_UI_URL = "http://localhost:8233"


class SettingsError(ValueError):
    """A configuration mistake; its message says how to fix it."""


def task_queue() -> str:
    return os.environ.get("TETHER_TASK_QUEUE") or DEFAULT_TASK_QUEUE


def ui_url() -> str:
    return (os.environ.get("TETHER_UI_URL") or DEFAULT_UI_URL).rstrip("/")


@dataclass(frozen=True)
class LlmSettings:
    """Where the LLM activity sends requests. The key stays in the worker process."""

    base_url: str | None
    api_key: str
    model: str
    offline: bool

    def __repr__(self) -> str:  # never print the key
        return f"LlmSettings(base_url={self.base_url!r}, model={self.model!r})"

    @classmethod
    def from_env(cls) -> LlmSettings:
        """OPENAI_API_KEY / OPENAI_BASE_URL / TETHER_MODEL; neither of the first two set
        means the offline scripted model (its base URL is filled in once it runs)."""
        base_url = os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY") or None
        model = os.environ.get("TETHER_MODEL") or None
        if base_url is None and api_key is None:
            return cls(base_url=None, api_key="offline", model=model or OFFLINE_MODEL, offline=True)
        if model is None:
            if base_url is not None:
                raise SettingsError(
                    f"OPENAI_BASE_URL is set ({base_url}) but TETHER_MODEL is not: "
                    "set TETHER_MODEL to a model that server serves"
                )
            model = DEFAULT_OPENAI_MODEL
        # Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the client needs one.
        return cls(base_url=base_url, api_key=api_key or "unused", model=model, offline=False)
