"""Fixtures of the demo's tests: a fresh shop database, and a copy of the repository as a
clone has it (for the README's walkthrough and `dev.py demo --web`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo shop's database for this test, where this process's tools write."""
    path = tmp_path / "shop.db"
    monkeypatch.setenv("TETHER_SHOP_DB", str(path))
    return path


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """The repository's files, as a clone has them, with this checkout's .venv."""
    home = tmp_path / "tether"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (home / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, home / name)
    (home / ".venv").symlink_to(Path(sys.prefix))
    yield home
    subprocess.run([sys.executable, "dev.py", "stop"], cwd=home, capture_output=True, timeout=120)
