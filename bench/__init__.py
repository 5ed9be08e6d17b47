"""Benchmarks: what durability costs per agent run, and where that cost goes.

`python -m bench.run` (see `bench/run.py` and docs/design/performance.md).
"""
