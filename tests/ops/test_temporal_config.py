"""Connecting to a real cluster: the docs' TEMPORAL_* settings reach the client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether._temporal import connect_config


@pytest.fixture(autouse=True)
def no_temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ADDRESS", "NAMESPACE", "API_KEY", "TLS", "PROFILE"):
        monkeypatch.delenv(f"TEMPORAL_{name}", raising=False)
    # An empty config file, so a developer's own ~/.config/temporalio does not leak in.
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "empty.toml"))


def test_without_settings_it_is_the_local_dev_server() -> None:
    assert connect_config() == {"target_host": "localhost:7233"}


def test_cloud_api_key_from_the_environment_turns_tls_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "my-ns.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "my-ns.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "secret-key")
    config = connect_config()
    assert config["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "my-ns.a1b2c"
    assert config["api_key"] == "secret-key"
    assert config["tls"]


def test_a_profile_from_a_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(
        '[profile.prod]\naddress = "temporal.internal:7233"\nnamespace = "agents"\n'
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    assert connect_config() == {"target_host": "temporal.internal:7233", "namespace": "agents"}
