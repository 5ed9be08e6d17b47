"""The demo is a user of Tether like any other, and only its own tests depend on it:
no module under tests/ outside tests/demo imports it, so a change to the demo breaks no
test of the engine, the CLI, a deployment or the library (they use the order desk of
tests/support instead)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
# The demo: the repository's top-level packages and scripts besides Tether, the tests
# and the benchmarks, and the benchmarks too (they run the demo's agents).
DEMO = {
    p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tether", "tests")
} | {"worker", "starter"}
# Not a test: the recorder of the replay gate's histories plays the demo's scenarios
# (the recorded runs are the demo's, its pipeline's among them).
RECORDER = TESTS / "histories" / "record.py"


def imported(path: Path) -> set[str]:
    """The top-level names of the absolute imports of a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_demos_tests_import_the_demo() -> None:
    assert {"support_desk", "activities", "workflows", "bench"} <= DEMO
    outside = [p for p in TESTS.rglob("*.py") if TESTS / "demo" not in p.parents and p != RECORDER]
    assert len(outside) > 50  # every test and helper outside tests/demo
    found = {
        str(p.relative_to(TESTS)): sorted(imported(p) & DEMO) for p in outside if imported(p) & DEMO
    }
    assert found == {}, f"these import the demo; move them to tests/demo or off it: {found}"
