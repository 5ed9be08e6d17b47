"""The support desk's worker: Tether's worker for the demo's agents and pipeline.

    python worker.py        # the same as: tether worker --agents support_desk:REGISTRY

Configured from the environment (TEMPORAL_ADDRESS, TETHER_TASK_QUEUE, OPENAI_BASE_URL,
OPENAI_API_KEY, TETHER_MODEL, ...; see the README); with no model configured it plays
the agents with the offline scripted model. Ctrl-C or SIGTERM stops it gracefully.
"""

from __future__ import annotations

from tether.cli import main

if __name__ == "__main__":
    main(["worker", "--agents", "support_desk:REGISTRY"], prog="worker.py")
