"""The chaos benchmark at a tiny size: with failing model calls Tether still finishes
every run and repeats no side effect, where a plain loop loses runs."""

from __future__ import annotations

import random
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.chaos import bench

RUNS, STEPS, P, SEED = 10, 5, 0.2, 1


async def test_tether_finishes_every_run_where_a_plain_loop_does_not(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # The scripted server draws one number per request from Random(SEED). A plain loop
    # finishes all runs only if none of its first RUNS * STEPS requests fails, and with
    # this seed some do: the plain path cannot complete everything, in any interleaving.
    draws = random.Random(SEED)
    assert any(draws.random() < P for _ in range(RUNS * STEPS))

    plain, _, tether = await bench(
        dev_env.client, runs=RUNS, steps=STEPS, p=P, seed=SEED, workdir=tmp_path
    )

    assert (tether.completed, tether.duplicate_side_effects) == (RUNS, 0)
    # Failures were injected and retried: calls beyond the STEPS each run needs.
    assert tether.extra_calls == tether.model_calls - RUNS * STEPS > 0
    assert plain.completed < RUNS
    assert plain.duplicate_side_effects == 0
