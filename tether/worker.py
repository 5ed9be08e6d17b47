"""Assembling a worker yourself: what `tether worker` does, as functions and settings.

    client = await tether.connect()
    worker = create_worker(client, REGISTRY, tuning=WorkerTuning.from_env())
    await worker.run()

Most projects need only `TetherPlugin` on their own `Client` and `Worker`, or the
`tether worker --agents MODULE:ATTR` command. This module holds the pieces those are
made of: the worker factory, its capacity and versioning settings, the price table
that turns tokens into cost, loading a registry by name, and Tether's data converter
for a client made without the plugin.
"""

from __future__ import annotations

from tether._agents import ModuleMissing, load_registry
from tether._pricing import ModelPrice, PriceTable
from tether._public import rehome_all
from tether._settings import Deployment, WorkerTuning
from tether._temporal import data_converter
from tether._worker import create_worker

__all__ = [
    "Deployment",
    "ModelPrice",
    "ModuleMissing",
    "PriceTable",
    "WorkerTuning",
    "create_worker",
    "data_converter",
    "load_registry",
]
rehome_all(globals(), __all__)
