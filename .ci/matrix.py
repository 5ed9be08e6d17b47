"""The other ends of Tether's support range, run after `python3 dev.py test` (which runs
everything on Python 3.11 with the newest versions pyproject.toml allows):

- Python 3.12 with every direct dependency at the lowest version pyproject.toml allows
  (uv's `--resolution lowest-direct`), and the engine and CLI tests;
- Python 3.13 with the sdist and the wheel built and their metadata checked (twine), the
  wheel installed into a fresh venv with its `test` extra, the README's user project's
  own test run there as a stranger would, and the engine and CLI tests.

    python3 dev.py matrix            # both
    python3 dev.py matrix lowest     # one of them: lowest, wheel

Needs `python3 dev.py setup` first (uv and twine come with the dev extra) and the
interpreters, from pyenv or on PATH as python3.12 and python3.13.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
WORK = ROOT / ".tether" / "matrix"
EXAMPLE = ROOT / "examples" / "issue-triage"
# The tests run on the other Pythons: the engine and the CLI, whole folders so that a
# test added to either runs there too, and the public API's (the rest depends on the dev
# tools of one venv: a browser, Compose, moto, the local model).
SUBSET = ["tests/engine", "tests/cli", "tests/library/test_public_api.py"]
# The extras the subset's tests import: MCP tools in the engine's tests, and every public
# module in the public-API test (tether.web and tether.evals at their lowest versions too).
SUBSET_EXTRAS = ("mcp", "web", "evals")
EXTRAS = [arg for extra in ("test", *SUBSET_EXTRAS) for arg in ("--extra", extra)]
# What the subset needs beyond Tether's own dependencies and its `test` extra: these
# tools as the dev extra pins them (the lowest job takes them as they are).
TOOLS = ("pytest-timeout", "pytest-xdist", "hypothesis")


def test_tools() -> list[str]:
    """The dev extra's pins of TOOLS."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return [pin for pin in dev["dev"] if pin.split("==")[0] in TOOLS]


def say(msg: str) -> None:
    print(f"matrix: {msg}", flush=True)


def run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    say(" ".join(str(c) for c in cmd))
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env)
    if done.returncode != 0:
        sys.exit(f"matrix: failed ({done.returncode}): {' '.join(str(c) for c in cmd)}")


def python(version: str) -> Path:
    """The interpreter of `version` (3.12, 3.13): pyenv's, else one on PATH."""
    roots = [os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")]
    for root in roots:
        found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
        if found:
            return Path(found[-1])
    on_path = shutil.which(f"python{version}")
    if on_path and subprocess.run([on_path, "--version"], capture_output=True).returncode == 0:
        return Path(on_path)
    sys.exit(f"matrix: no Python {version} found (pyenv install {version}, or put it on PATH)")


def fresh_venv(name: str, version: str) -> Path:
    """A new venv of Python `version` under .tether/matrix; its python."""
    path = WORK / name
    shutil.rmtree(path, ignore_errors=True)
    run(BIN / "uv", "venv", "--quiet", "--python", python(version), path)
    return path / "bin" / "python"


def uv_install(py: Path, *args: str | Path) -> None:
    run(BIN / "uv", "pip", "install", "--quiet", "--python", py, *args)


def subset(py: Path, label: str) -> None:
    """The engine and CLI tests with `py`, in two processes as `dev.py test` runs them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    started = time.monotonic()
    run(py, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile", *SUBSET, env=env)
    say(f"{label}: engine and CLI tests passed in {time.monotonic() - started:.0f} s")


def lowest() -> None:
    """Python 3.12, every direct dependency at its lowest allowed version."""
    WORK.mkdir(parents=True, exist_ok=True)
    locked = WORK / "lowest.txt"
    tools = WORK / "tools.txt"
    tools.write_text("\n".join(test_tools()) + "\n")
    run(
        BIN / "uv", "pip", "compile", "--quiet", "--python-version", "3.12",
        "--resolution", "lowest-direct", *EXTRAS, "pyproject.toml", tools, "-o", locked,
    )  # fmt: skip
    py = fresh_venv("lowest", "3.12")
    uv_install(py, "-r", locked)
    uv_install(py, "--no-deps", "-e", ROOT)
    say("lowest versions: " + ", ".join(_direct_versions(locked)))
    subset(py, "Python 3.12, lowest versions")


def wheel() -> None:
    """Python 3.13: build, check, install the wheel fresh, run the user project's test."""
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        # From a copy: setuptools builds in the source tree, where an earlier build's
        # leftovers (build/, an egg-info) would go into the next.
        source = Path(tmp) / "tether"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        run(BIN / "uv", "build", "--quiet", "--python", python("3.13"), "-o", dist, source)
    built = sorted([*dist.glob("*.whl"), *dist.glob("*.tar.gz")])
    run(BIN / "twine", "check", "--strict", *built)
    [wheel_file] = [p for p in built if p.suffix == ".whl"]
    py = fresh_venv("wheel", "3.13")
    uv_install(py, f"{wheel_file}[test]")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "issue-triage"
        shutil.copytree(EXAMPLE, project)
        # The README's "python -m pytest tests -q", in the project's own directory.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        run(py, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", cwd=project, env=env)
    say(f"{wheel_file.name} on Python 3.13: the user project's test passed")
    # The subset's tools and the extras its tests use, then the checkout's own modules
    # (the tests import them) in place of the wheel's.
    uv_install(py, *test_tools(), f"{wheel_file}[{','.join(SUBSET_EXTRAS)}]")
    uv_install(py, "--no-deps", "-e", ROOT)
    subset(py, "Python 3.13, newest versions")


def _direct_versions(locked: Path) -> list[str]:
    names = {"temporalio", "openai", "pydantic", "structlog", "cryptography", "protobuf"}
    pins = [line.strip() for line in locked.read_text().splitlines() if "==" in line]
    return [p for p in pins if p.split("==")[0] in names]


_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".tether")
JOBS = {"lowest": lowest, "wheel": wheel}


def main(argv: list[str]) -> int:
    chosen = argv or list(JOBS)
    unknown = [j for j in chosen if j not in JOBS]
    if unknown:
        sys.exit(f"matrix: unknown job {unknown[0]!r} (choose from {', '.join(JOBS)})")
    for job in chosen:
        started = time.monotonic()
        JOBS[job]()
        say(f"{job}: done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
