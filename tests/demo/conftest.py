"""Fixtures of the demo's tests: a fresh shop database."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def shop_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo shop's database for this test, where this process's tools write."""
    path = tmp_path / "shop.db"
    monkeypatch.setenv("TETHER_SHOP_DB", str(path))
    return path
