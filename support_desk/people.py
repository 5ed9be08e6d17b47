"""The demo's people for `tether web` (web.py): `lead`, a support lead who sees every
run and decides, and `ada`, the customer C-1, who chats with the support desk; both
sign in with the password `demo`. Their users file is made on first use in .tether/
under the working directory, holding password hashes only."""

from __future__ import annotations

import os
from pathlib import Path

from tether.web import hash_password

STATE = Path(".tether")
USERS = STATE / "web-users.toml"
PASSWORD = "demo"


def demo_users() -> Path:
    """The demo's users file, made if it is missing."""
    if USERS.exists():
        return USERS
    STATE.mkdir(mode=0o700, exist_ok=True)
    hashed = hash_password(PASSWORD)
    text = (
        "# The demo's people (support_desk/people.py); the password of both is `demo`.\n"
        f'[[user]]\nname = "lead"\npassword = "{hashed}"\nagents = ["*"]\n'
        'decide = true\nchat = ["support-desk"]\n\n'
        f'[[user]]\nname = "ada"\npassword = "{hashed}"\nacting_for = "C-1"\n'
        'chat = ["support-desk"]\n'
    )
    partial = USERS.with_name(f".{USERS.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, USERS)
    return USERS
