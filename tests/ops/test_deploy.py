"""The cluster deployment: docker-compose.yml, its setup job, and the worker image.

There is no Docker engine here, so the compose file is checked by Compose v2 itself
(`config` validates and resolves it without an engine) and the setup script runs
against the tests' dev server with the installed Temporal CLI.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from tests.support.compose import SECRETS, SECURE, compose, resolved_compose
from tests.support.processes import ROOT, target
from tether._search_attributes import SEARCH_ATTRIBUTES
from tether.testing import binary


def test_compose_file_is_valid_once_the_example_env_files_secrets_are_set() -> None:
    done = compose("--env-file", ".env.example", "config", "-q", env=SECRETS)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("missing", list(SECRETS))
def test_compose_refuses_to_start_without_its_secrets(missing: str) -> None:
    given = {k: v for k, v in SECRETS.items() if k != missing}
    done = compose("--env-file", ".env.example", "config", "-q", env=given)
    assert done.returncode != 0
    assert f"set {missing} in .env" in done.stderr


@pytest.mark.parametrize(
    ("password", "keys", "says"),
    [
        ("change-me", "k1=x", "POSTGRES_PASSWORD is a placeholder"),
        ("short", "k1=x", "POSTGRES_PASSWORD must be at least 16 characters"),
        ("a-real-password-of-some-length", "", "set TETHER_ENCRYPTION_KEYS"),
    ],
)
def test_the_secrets_check_refuses_placeholders(password: str, keys: str, says: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "POSTGRES_PASSWORD": password,
        "TETHER_ENCRYPTION_KEYS": keys,
    }
    script = ROOT / "deploy" / "check-secrets.sh"
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and says in done.stderr
    ok = {**env, **SECRETS}
    assert subprocess.run(["sh", str(script)], env=ok, capture_output=True).returncode == 0


def check_secrets(**env: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "deploy" / "check-secrets.sh"
    given = {"PATH": os.environ["PATH"], **SECRETS, **env}
    return subprocess.run(["sh", str(script)], env=given, capture_output=True, text=True)


def test_a_public_address_or_a_shared_admin_token_is_refused_at_up() -> None:
    # Before, TETHER_BIND_ADDRESS=0.0.0.0 came up without the secure overlay, and the
    # workers held the setup job's admin token.
    public = check_secrets(TETHER_BIND_ADDRESS="0.0.0.0")
    assert public.returncode == 1 and "add deploy/compose.secure.yml" in public.stderr
    assert check_secrets(TETHER_BIND_ADDRESS="0.0.0.0", TETHER_SECURE="1").returncode == 0
    assert check_secrets(TETHER_BIND_ADDRESS="127.0.0.1").returncode == 0
    shared = check_secrets(TETHER_SECURE="1", TETHER_WORKER_API_KEY="t", TETHER_SETUP_API_KEY="t")
    assert shared.returncode == 1 and "are the same token" in shared.stderr
    services = resolved_compose(env={**SECRETS, "TETHER_BIND_ADDRESS": "0.0.0.0"})
    assert services["check-secrets"]["environment"]["TETHER_BIND_ADDRESS"] == "0.0.0.0"


def test_the_cluster_listens_on_loopback_and_its_workers_encrypt() -> None:
    services = resolved_compose()
    published = [(name, p) for name, spec in services.items() for p in spec.get("ports", [])]
    assert {name for name, _ in published} == {"temporal", "ui"}
    assert {p["host_ip"] for _, p in published} == {"127.0.0.1"}
    worker = services["worker"]["environment"]
    assert worker["TETHER_ENCRYPTION_KEYS"] == SECRETS["TETHER_ENCRYPTION_KEYS"]
    # Nothing starts before the secrets were checked.
    assert services["postgresql"]["depends_on"]["check-secrets"] == {
        "condition": "service_completed_successfully",
        "required": True,
    }


def test_the_secure_overlay_turns_on_mtls_an_authorizer_and_ui_login() -> None:
    services = resolved_compose(
        ("docker-compose.yml", "deploy/compose.secure.yml"), {**SECRETS, **SECURE}
    )
    server = services["temporal"]["environment"]
    assert server["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert server["TEMPORAL_TLS_FRONTEND_CERT"] and server["TEMPORAL_TLS_CLIENT1_CA_CERT"]
    assert server["TEMPORAL_AUTH_AUTHORIZER"] == server["TEMPORAL_AUTH_CLAIM_MAPPER"] == "default"
    assert server["TEMPORAL_JWT_KEY_SOURCE1"] == SECURE["TEMPORAL_JWT_KEY_SOURCE"]
    assert server["USE_INTERNAL_FRONTEND"] == "true"
    # Every client presents a certificate and a token; the workers' is not the setup
    # job's admin token (before, they shared it).
    for name, token in [("worker", "TETHER_WORKER_API_KEY"), ("setup", "TETHER_SETUP_API_KEY")]:
        client = services[name]["environment"]
        assert client["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "/certs/client.pem"
        assert client["TEMPORAL_API_KEY"] == SECURE[token]
        assert any(v["target"] == "/certs" and v["read_only"] for v in services[name]["volumes"])
    ui = services["ui"]["environment"]
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui["TEMPORAL_TLS_CERT"]
    assert ui["TEMPORAL_AUTH_CLIENT_SECRET"] == SECURE["TETHER_UI_OIDC_CLIENT_SECRET"]
    # The UI only reads unless asked to write (before, it could signal and terminate).
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert services["check-secrets"]["environment"]["TETHER_SECURE"] == "1"


@pytest.mark.parametrize("missing", list(SECURE))
def test_the_secure_overlay_refuses_to_start_half_configured(missing: str) -> None:
    given = {k: v for k, v in {**SECRETS, **SECURE}.items() if k != missing}
    files = ("docker-compose.yml", "deploy/compose.secure.yml")
    done = compose("--env-file", ".env.example", "config", "-q", files=files, env=given)
    assert done.returncode != 0 and missing in done.stderr


def test_compose_comes_up_in_order() -> None:
    services = resolved_compose()
    needs = {
        name: {dep: cond["condition"] for dep, cond in spec.get("depends_on", {}).items()}
        for name, spec in services.items()
    }
    assert needs == {
        "check-secrets": {},
        "postgresql": {"check-secrets": "service_completed_successfully"},
        "schema": {"postgresql": "service_healthy"},
        "temporal": {"schema": "service_completed_successfully"},
        "setup": {"temporal": "service_healthy"},
        "ui": {"temporal": "service_healthy"},
        "worker": {"setup": "service_completed_successfully"},
    }
    # Whatever others wait on as healthy has a health check.
    for name in ("postgresql", "temporal"):
        assert services[name]["healthcheck"]["test"], name
    assert services["worker"]["deploy"]["replicas"] == 3


def test_compose_images_are_pinned_and_secrets_stay_out_of_the_image() -> None:
    services = resolved_compose()
    for name, spec in services.items():
        if "image" in spec:
            # A release with its minor (and patch) number, never a floating tag.
            assert re.fullmatch(r"[\w./-]+:\d+\.\d+[\w.-]*", spec["image"]), (name, spec["image"])
    worker = services["worker"]
    assert "build" in worker
    assert worker["environment"]["OPENAI_API_KEY"] == ""  # from .env at `up`, not built in
    assert not any("PASSWORD" in key or "PWD" in key for key in worker["environment"])
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored


def test_dockerfile_installs_tether_and_copies_the_whole_demo() -> None:
    # The demo is every top-level package but the tests' and the bench's, and the entry
    # points the worker image may run.
    demo = {
        p.parent.name
        for p in ROOT.glob("*/__init__.py")
        if p.parent.name not in ("tests", "bench", "tether")
    }
    wanted = {"tether", *demo, "worker.py", "starter.py"}
    copied: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            copied.update(Path(src).name for src in line.split()[1:-1])
    missing = wanted - copied
    assert not missing, f"Dockerfile does not COPY {sorted(missing)}"
    assert {"pyproject.toml", "README.md", "requirements.lock"} <= copied


def test_the_image_runs_as_a_user_from_a_pinned_base_with_hashed_dependencies() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    [base] = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    [user] = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user not in ("root", "0")
    assert lines.index(f"USER {user}") > max(
        i for i, ln in enumerate(lines) if ln.startswith("RUN")
    )
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert installs == [
        "RUN pip install --no-cache-dir --require-hashes -r requirements.lock",
        "RUN pip install --no-cache-dir --no-deps .",
    ]
    # The lock pins every dependency of the package at the version pyproject.toml names,
    # and each pin has hashes.
    lock = (ROOT / "deploy" / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+) \\$", lock, re.M))
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in wanted:
        name, sep, version = requirement.partition("==")
        if sep:
            assert pins.get(name.lower()) == version, requirement
    blocks = re.split(r"\n(?=[a-z0-9_.-]+==)", lock.split("\n", 4)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)


async def test_setup_job_registers_namespace_and_search_attributes_once(
    dev_env: WorkflowEnvironment,
) -> None:
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TEMPORAL_CLI": binary("temporal"),
        "TEMPORAL_ADDRESS": target(dev_env),
        "TEMPORAL_NAMESPACE": namespace,
    }

    def setup() -> subprocess.CompletedProcess[str]:
        script = [str(ROOT / "deploy" / "setup-temporal.sh")]
        return subprocess.run(script, env=env, capture_output=True, text=True, timeout=120)

    first = await asyncio.to_thread(setup)
    again = await asyncio.to_thread(setup)
    assert first.returncode == 0, first.stderr
    assert f"created namespace {namespace}" in first.stdout
    assert again.returncode == 0, again.stderr
    assert f"namespace {namespace} exists" in again.stdout
    assert "registered" not in again.stdout
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    registered = {name for name in listed.custom_attributes}
    assert set(SEARCH_ATTRIBUTES) <= registered


def test_the_compose_list_of_search_attributes_is_the_codes() -> None:
    lines = (ROOT / "deploy" / "search-attributes.txt").read_text().splitlines()
    listed = dict(line.split("=") for line in lines if line.strip() and not line.startswith("#"))
    assert listed == SEARCH_ATTRIBUTES
