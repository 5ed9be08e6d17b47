"""The support desk's approvals, runs and chats in a browser: `tether web` for the demo.

    python web.py       # tether web --agents support_desk:REGISTRY, the demo's people and key

Serves on http://127.0.0.1:8400/ (TETHER_WEB_PORT), loopback only. Its people
(support_desk/people.py) are `lead` (every run; decides) and `ada` (the customer C-1;
chats), password `demo`. It signs their decisions with the demo's key
(support_desk/keys.py), which worker.py trusts for any name. Needs the `web` extra.
"""

from __future__ import annotations

import sys

from support_desk.keys import use_demo_key
from support_desk.people import demo_users
from tether.cli import main

if __name__ == "__main__":
    use_demo_key()
    users = str(demo_users())
    main(
        ["web", "--agents", "support_desk:REGISTRY", "--users", users, *sys.argv[1:]], prog="web.py"
    )
