"""Start, follow and steer the support desk's runs: Tether's CLI with the demo's
defaults (`--agent support-desk`, `pipeline --workflow RefundPipelineWorkflow`).

python starter.py run "Order A-1001 arrived broken, I want my money back."   # acts for C-1
python starter.py run "..." --detach --json      # then: status, approve, watch ...
python starter.py chat                           # a conversation
python starter.py --help                         # every command (the same as `tether`)
"""

from __future__ import annotations

import os

from support_desk import DEFAULT_AGENT, DEFAULT_PIPELINE
from support_desk.keys import use_demo_key
from tether.cli import main

if __name__ == "__main__":
    # The demo's tickets are Ada Lovelace's (customer C-1, who owns every seeded order):
    # the demo's stand-in for a customer signed in to the support channel.
    os.environ.setdefault("TETHER_ACTING_FOR", "C-1")
    # Approvals are signed with the demo's key, which the demo's worker trusts.
    use_demo_key()
    main(prog="starter.py", default_agent=DEFAULT_AGENT, default_pipeline=DEFAULT_PIPELINE)
