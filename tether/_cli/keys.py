"""`keygen`: a signing key for the person who decides, and the line that trusts it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tether._cli.common import UserError, person
from tether._signing import SIGNING_KEY_VARIABLE, Signer
from tether._trust import APPROVER_KEYS_VARIABLE


def add_keygen_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help = (
        "make a signing key for your decisions; prints the allowed-signers line a "
        f"worker's {APPROVER_KEYS_VARIABLE} file needs to trust it"
    )
    sub = commands.add_parser("keygen", help=help, description=help)
    sub.set_defaults(run=cmd_keygen)
    sub.add_argument("key", help=f"where to write the key (mode 0600); then {SIGNING_KEY_VARIABLE}")
    sub.add_argument(
        "--name", help="the approver name it signs for (default: TETHER_IDENTITY, else login@host)"
    )
    sub.add_argument(
        "--allowed",
        metavar="FILE",
        help="also append the line to this allowed-signers file",
    )


async def cmd_keygen(args: argparse.Namespace) -> int:
    where = Path(args.key)
    name = args.name or person()
    if any(c.isspace() or c == "," for c in name):
        raise UserError(f"an approver name has no spaces or commas: {name!r}")
    try:
        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        signer = Signer.generate(where)
    except FileExistsError:
        raise UserError(
            f"{where} exists: a key is never overwritten; choose another path"
        ) from None
    except OSError as e:
        raise UserError(f"cannot write {where}: {e.strerror}") from None
    line = f"{name} {signer.public_key}\n"
    if args.allowed:
        fd = os.open(args.allowed, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a") as allowed:
            allowed.write(line)
    print(line, end="")
    return 0
