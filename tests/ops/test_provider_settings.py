"""The docs' provider settings, read by LlmSettings.from_env as documented."""

from __future__ import annotations

import pytest

from tether import ConfigurationError, LlmSettings
from tether._activities.llm import make_client
from tether.testing import OFFLINE_MODEL

VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TETHER_MODEL")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean slate: only what a test sets is visible to from_env."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_openai_needs_only_a_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("OPENAI_API_KEY", "sk-real")
    settings = LlmSettings.from_env()
    assert (settings.base_url, settings.model, settings.offline) == (None, "gpt-4o-mini", False)
    assert make_client(settings).api_key == "sk-real"
    assert "sk-real" not in repr(settings)


@pytest.mark.parametrize(
    ("base_url", "model"),
    [
        ("http://localhost:11434/v1", "qwen2.5:7b"),  # Ollama
        ("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct"),  # vLLM
        ("http://localhost:8080/v1", "smollm2"),  # llama.cpp's llama-server
    ],
    ids=["ollama", "vllm", "llamacpp"],
)
def test_local_servers_need_a_base_url_and_a_model_but_no_key(
    env: pytest.MonkeyPatch, base_url: str, model: str
) -> None:
    env.setenv("OPENAI_BASE_URL", base_url)
    env.setenv("TETHER_MODEL", model)
    settings = LlmSettings.from_env()
    assert (settings.base_url, settings.model, settings.offline) == (base_url, model, False)
    # The openai client refuses to start without a key; local servers ignore this one.
    client = make_client(settings)
    assert client.api_key == "unused"
    assert str(client.base_url) == f"{base_url}/"


def test_a_key_is_passed_on_to_a_server_that_checks_one(env: pytest.MonkeyPatch) -> None:
    env.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    env.setenv("OPENAI_API_KEY", "vllm-secret")
    env.setenv("TETHER_MODEL", "Qwen/Qwen2.5-7B-Instruct")
    assert make_client(LlmSettings.from_env()).api_key == "vllm-secret"


def test_a_base_url_without_a_model_says_to_set_tether_model(env: pytest.MonkeyPatch) -> None:
    env.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    with pytest.raises(ConfigurationError, match="set TETHER_MODEL to a model that server serves"):
        LlmSettings.from_env()


def test_nothing_set_is_refused_and_the_offline_model_must_be_asked_for(
    env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError, match=r"no model configured.*--offline"):
        LlmSettings.from_env()
    settings = LlmSettings.scripted()
    assert settings.offline
    assert (settings.base_url, settings.model) == (None, OFFLINE_MODEL)
