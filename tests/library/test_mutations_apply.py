"""Each mutation of tests/mutations.py still applies: its `old` text occurs exactly once
in its file, so `python -m tests.mutations` mutates what it names (a mutation that no
longer matches would stand for a check nobody runs)."""

from __future__ import annotations

import pytest

from tests.mutations import MUTATIONS, ROOT, Mutation


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_mutation_applies_to_its_file(mutation: Mutation) -> None:
    source = (ROOT / mutation.path).read_text()
    assert source.count(mutation.old) == 1, f"{mutation.path} no longer holds {mutation.old!r}"
    assert mutation.new != mutation.old


def test_every_mutation_names_tests_that_exist() -> None:
    missing = [
        (m.name, test)
        for m in MUTATIONS
        for test in m.tests
        if not (ROOT / test.split("::")[0]).exists()
    ]
    assert not missing
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS), "two mutations share a name"
