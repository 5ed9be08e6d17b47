"""Tether as a stranger's project uses it: the wheel alone, installed into a fresh venv,
and the "Your first agent" page's project (docs/getting-started/first-agent.md), copied
outside this repository beside packages of its own named like the ones Tether used to
install, run line by line.

The page is the source: its file blocks must be the example's files, and its blocks
titled "shell" are what runs, in order. Two of their lines stand for what the test
provides: `temporal server start-dev &` is the session's dev server, and Tether is
installed from the wheel this test builds (`pip install`), into a venv that borrows the
test venv's other packages.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.doc_blocks import titled
from tests.support.processes import target, wait_for_pollers
from tether._process import stop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "issue-triage"
PAGE = ROOT / "docs" / "getting-started" / "first-agent.md"
# Packages of the user's own, named as Tether's repository's (the wheel must not ship them).
THEIRS = ("agents", "tools", "workflows", "activities")
TIMEOUT = 120


# What a checkout holds besides its sources.
NOT_SOURCE = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".tether")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # From a copy: setuptools builds in the source tree, where an earlier build's
    # leftovers (build/, a run stopped half-way) break the next one.
    source = tmp_path_factory.mktemp("source") / "tether"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*build, "-w", str(out), str(source)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [made] = out.glob("tether_agents-*.whl")  # the distribution tether-agents
    return made


def test_the_wheel_installs_one_import_name_and_the_tether_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zipped.read(entry_points).decode()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"tether"}
    assert "tether = tether.cli:main" in scripts
    assert not any(n.startswith("tether/") and "/tests/" in n for n in names)


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its other packages are the test venv's."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(home)], check=True, timeout=60
    )
    python = home / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [site] = home.glob("lib/python*/site-packages")
    # A path line adds the test venv's packages, not its .pth files: the editable
    # install of this repository stays out, so `tether` is the wheel's.
    (site / "borrowed.pth").write_text(
        str(next(Path(sys.prefix).glob("lib/python*/site-packages")))
    )
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example, copied outside the repository, with packages named like Tether's."""
    home = tmp_path / "issue-triage"
    shutil.copytree(EXAMPLE, home, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    for name in THEIRS:
        (home / name).mkdir()
        (home / name / "__init__.py").write_text(f'OWNER = "the project: {name}"\n')
    assert ROOT not in home.parents
    return home


def test_the_page_shows_the_example_files_as_they_are() -> None:
    files = {name: text for name, text in titled(PAGE).items() if name != "shell"}
    sources = {
        str(path.relative_to(EXAMPLE))
        for path in EXAMPLE.rglob("*")
        if path.suffix in (".py", ".toml")
        and path.name != "__init__.py"
        and "__pycache__" not in path.parts
    }
    assert set(files) == sources
    for name, text in files.items():
        assert text == (EXAMPLE / name).read_text(), f"the page's {name} is not the example's"


@pytest.fixture
def env(venv: Path, dev_env: WorkflowEnvironment, project: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    keep.pop("PYTHONPATH", None)
    return {
        **keep,
        "PATH": f"{venv / 'bin'}{os.pathsep}{keep.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "TEMPORAL_ADDRESS": target(dev_env),
        "TETHER_TASK_QUEUE": f"user-{uuid.uuid4().hex[:8]}",
        "TETHER_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop(proc)


def words(line: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A README line's command and its environment: `NAME=value` before the command
    sets a variable for it alone, as a shell does."""
    command = shlex.split(line, comments=True)
    env = dict(env)
    while command and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
        name, _, value = command.pop(0).partition("=")
        env[name] = value
    return command, env


def shell(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command, env = words(line, env)
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def spawn(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A command of the page's run in the background (`&`), its output to a log."""
    with (cwd / f"{'-'.join(command[:2])}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log)


async def test_a_user_project_runs_its_agent_as_the_page_says(
    project: Path,
    env: dict[str, str],
    dev_env: WorkflowEnvironment,
    background: list[subprocess.Popen[bytes]],
) -> None:
    lines = [ln for ln in titled(PAGE)["shell"].splitlines() if ln.strip()]
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    for line in lines:
        command, its_env = words(line, env)
        if command[:3] == ["temporal", "server", "start-dev"]:
            continue  # the session's dev server (TEMPORAL_ADDRESS)
        if command[:2] == ["pip", "install"]:
            continue  # the wheel this test built, installed in the venv
        if command[-1] == "&":
            proc = spawn(command[:-1], project, its_env)
            background.append(proc)
            await wait_for_pollers(dev_env.client, env["TETHER_TASK_QUEUE"], [proc])
            continue
        done[command[1] if command[0] == "tether" else command[0]] = ran = shell(line, project, env)
        assert ran.returncode == 0, f"{line}\n{ran.stdout}\n{ran.stderr}"
    assert "1 passed" in done["python"].stdout
    assert done["approve"].stdout.startswith(
        'approved close_issue({"number": 12, "duplicate_of": 7})'
    )
    assert "#12: closed #12 as a duplicate of #7" in done["watch"].stdout
    # The side effect happened once, in the project's own database.
    rows = sqlite3.connect(project / "issues.db").execute("SELECT number, duplicate_of FROM closed")
    assert rows.fetchall() == [(12, 7)]
    # The project's packages are its own, beside the installed tether.
    check = shell(
        "python -c 'import agents, tools, workflows, activities, tether;"
        "print(tether.__file__, *(m.OWNER for m in (agents, tools, workflows, activities)))'",
        project,
        env,
    )
    assert check.returncode == 0, check.stderr
    tether_file, *owners = check.stdout.split(" ", 1)
    assert str(ROOT) not in tether_file and "site-packages" in tether_file
    assert owners == ["the project: agents the project: tools the project: workflows "
                      "the project: activities\n"]  # fmt: skip
    # An agent the worker does not serve: one line, exit status 2, nothing left running.
    unknown = shell('tether run --agent nope "hello" --id nope-run', project, env)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1
    assert "no agent 'nope'" in unknown.stderr and "serves: issue-triage" in unknown.stderr
    described = await dev_env.client.get_workflow_handle("nope-run").describe()
    assert described.status is not None and described.status.name == "FAILED"


def test_tether_worker_without_agents_says_how_to_name_them(
    project: Path, env: dict[str, str]
) -> None:
    done = shell("tether worker", project, env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "tether: no agents to serve: name them with --agents MODULE:ATTR (or TETHER_AGENTS), "
        "e.g. tether worker --agents myapp.agents:REGISTRY"
    )
    wrong = shell("tether worker --agents myapp.catalog:NOPE", project, env)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "tether: module 'myapp.catalog' has no attribute 'NOPE'"
