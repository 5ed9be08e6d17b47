"""The support desk's worker: Tether's worker for the demo's agents and pipeline.

    python worker.py        # tether worker --agents support_desk:REGISTRY, with the demo's key

Configured from the environment (TEMPORAL_ADDRESS, TETHER_TASK_QUEUE, OPENAI_BASE_URL,
OPENAI_API_KEY, TETHER_MODEL, ...; see docs/reference/configuration.md). With no model
configured, the demo plays its agents with the offline scripted model (`--offline
support_desk.scripts:SCRIPTS`): a demo's choice, where a library worker would refuse to
start. Ctrl-C or SIGTERM stops it gracefully. Its runs accept decisions signed with the
demo's key (support_desk/keys.py), unless TETHER_APPROVER_KEYS names other keys.
"""

from __future__ import annotations

import os

from support_desk.keys import use_demo_key
from tether.cli import main

if __name__ == "__main__":
    use_demo_key()
    # The demo shows runs filtered by status in the web UI: every status is upserted.
    os.environ.setdefault("TETHER_LIVE_STATUS", "1")
    configured = os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    offline = [] if configured else ["--offline", "support_desk.scripts:SCRIPTS"]
    main(["worker", "--agents", "support_desk:REGISTRY", *offline], prog="worker.py")
