"""The demo's approver key, made on first use, so that `python3 dev.py demo` signs its
approval without anyone setting a key up.

`worker.py` trusts it (TETHER_APPROVER_KEYS) and `starter.py` signs with it
(TETHER_SIGNING_KEY), unless those are set. It lives in .tether/ under the working
directory, like the demo shop, readable by its owner only, and it may sign for any
approver name: it stands for the one person at this machine. A deployment gives each
approver (or its approval service) a key of its own and lists it, with the names it may
sign for, in the workers' TETHER_APPROVER_KEYS (see docs/operations/security.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from tether import Signer

STATE = Path(".tether")
KEY = STATE / "approver.key"
ALLOWED = STATE / "approver-keys"


def use_demo_key() -> None:
    """Point TETHER_SIGNING_KEY and TETHER_APPROVER_KEYS (those not set) at the demo's
    key and the allowed-signers file that trusts it, making them if they are missing."""
    wanted = [v for v in ("TETHER_SIGNING_KEY", "TETHER_APPROVER_KEYS") if not os.environ.get(v)]
    if not wanted:
        return
    STATE.mkdir(mode=0o700, exist_ok=True)
    try:
        signer = Signer.generate(KEY)
    except FileExistsError:  # made before, or by the worker or starter beside this one
        signer = Signer.from_file(KEY)
    line = f"* {signer.public_key} tether-demo\n"
    if not ALLOWED.exists() or ALLOWED.read_text() != line:
        partial = ALLOWED.with_name(f".{ALLOWED.name}.{os.getpid()}.tmp")
        partial.write_text(line)
        os.replace(partial, ALLOWED)
    paths = {"TETHER_SIGNING_KEY": KEY, "TETHER_APPROVER_KEYS": ALLOWED}
    for variable in wanted:
        os.environ[variable] = str(paths[variable].resolve())
