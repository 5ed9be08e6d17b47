"""What stays on the developer's machine stays theirs: `.tether/` and the files in it
are readable by their owner only, the dev server is not handed the caller's secrets,
and a model base URL's credentials do not reach an error message."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import dev
from tether import ConfigurationError, LlmSettings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_directory_and_its_logs_are_private(tmp_path: Path) -> None:
    state = tmp_path / ".tether"
    state.mkdir(mode=0o755)  # as an earlier dev.py left it
    os.chmod(state, 0o755)
    dev.private_dir(state)
    with dev.private_log(state / "dev-server.log") as log:
        log.write(b"started\n")
    assert mode(state) == 0o700
    assert mode(state / "dev-server.log") == 0o600


def test_the_dev_server_gets_only_what_it_needs_of_the_environment() -> None:
    given = {
        "PATH": "/usr/bin",
        "HOME": "/home/ada",
        "LANG": "C.UTF-8",
        "OPENAI_API_KEY": "sk-secret-secret",
        "TEMPORAL_API_KEY": "temporal-secret",
        "TETHER_ENCRYPTION_KEYS": "k1=secret",
        "TETHER_CODEC_TOKEN": "codec-secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
    }
    assert dev.server_env(given) == {"PATH": "/usr/bin", "HOME": "/home/ada", "LANG": "C.UTF-8"}


def test_credentials_in_a_base_url_are_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://ada:hunter2-s3cr3t@llm.example.com/v1")
    monkeypatch.delenv("TETHER_MODEL", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        LlmSettings.from_env()
    assert "hunter2" not in str(refused.value)
    assert "https://[redacted]@llm.example.com/v1" in str(refused.value)
    monkeypatch.setenv("TETHER_MODEL", "m")
    assert "hunter2" not in repr(LlmSettings.from_env())


def test_the_dev_server_command_line_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, TETHER_CODEC_ENDPOINT (with the codec token as its path, as the README
    # showed) went into the dev server's argv, readable by every user of the machine.
    monkeypatch.setenv("TETHER_CODEC_ENDPOINT", "http://localhost:8081/codec-secret-token")
    monkeypatch.setenv("TETHER_CODEC_TOKEN", "codec-secret-token")
    command = " ".join(dev.server_command(7300, 8300))
    assert "codec-secret-token" not in command
    assert "--port 7300 --ui-port 8300" in command
