"""Which decisions a run trusts: the approvers' public keys and the names each may sign
for (pure data, recorded with a run's spec; see tether/_signing.py for the signatures)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, field_validator
from temporalio import workflow

from tether._limits import MAX_NAME_CHARS
from tether._settings import ConfigurationError

APPROVER_KEYS_VARIABLE = "TETHER_APPROVER_KEYS"
# TETHER_APPROVER_KEYS=unsigned: the deployment accepts decisions without a signature.
UNSIGNED = "unsigned"
ANY_NAME = "*"


def public_key_line(key: Ed25519PublicKey) -> str:
    """`ssh-ed25519 AAAA...`: the key as OpenSSH writes it, without a comment."""
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return raw.decode()


def fingerprint(line: str) -> str:
    """`SHA256:...`, as `ssh-keygen -l` shows the key."""
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(line: str) -> Ed25519PublicKey:
    """The key of an OpenSSH public key line (`ssh-ed25519 BASE64 [comment]`)."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise ValueError(f"not an ssh-ed25519 public key: {line[:40]!r}")
    try:
        # A run's keys are read in the workflow sandbox too (a Replayer decoding its spec),
        # where cryptography's lazy imports of its backend would be re-imported and refused.
        with workflow.unsafe.imports_passed_through():
            key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not a valid ssh-ed25519 public key: {line[:40]!r}")
    return key


class ApproverKeys(BaseModel):
    """Which decisions a run accepts: the public keys it trusts, each with the approver
    names it may sign for. An agent's (or, unset, its worker's) is recorded with the
    run's spec, so a run keeps the keys it started with.

        ApproverKeys(keys={"ssh-ed25519 AAAA...": ["ada@shop"]})
        ApproverKeys.from_file("/etc/tether/approver-keys")  # lines: NAMES KEY [comment]

    Args:
        keys: OpenSSH public key (`ssh-ed25519 AAAA...`) to the names it may sign for;
            `*` is any name, for an approval service that authenticates people and
            signs for them with one key.
        unsigned: Also accept decisions without a signature, whose approver is then only
            what their sender wrote: anyone who may send the run an update (a starter,
            a worker's token, a web UI user) can then approve as anyone. Say so only
            where every client of the namespace is trusted.
    """

    model_config = ConfigDict(frozen=True)

    keys: dict[str, list[str]] = {}
    unsigned: bool = False

    @field_validator("keys")
    @classmethod
    def _normalized(cls, keys: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line, names in keys.items():
            if isinstance(names, str) or not names:
                raise ValueError(f"key {line[:40]!r}: give a list of approver names (or ['*'])")
            if not all(0 < len(n) <= MAX_NAME_CHARS and n.strip() == n for n in names):
                raise ValueError(f"key {line[:40]!r}: an approver name is empty or too long")
            out[public_key_line(parse_public_key(line))] = list(names)
        return out

    @classmethod
    def parse(cls, text: str, *, source: str = "approver keys") -> ApproverKeys:
        """Lines of `NAMES ssh-ed25519 BASE64 [comment]` (NAMES comma-separated, `*` for
        any; `#` starts a comment line), as OpenSSH's allowed_signers file."""
        keys: dict[str, list[str]] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 3:
                raise ConfigurationError(f"{source} line {number}: expected NAMES KEY-TYPE KEY")
            names = [n for n in parts[0].split(",") if n]
            try:
                key = public_key_line(parse_public_key(" ".join(parts[1:3])))
            except ValueError as e:
                raise ConfigurationError(f"{source} line {number}: {e}") from None
            keys.setdefault(key, [])
            keys[key] += [n for n in names if n not in keys[key]]
        return cls(keys=keys)

    @classmethod
    def from_file(cls, path: str | Path) -> ApproverKeys:
        """The keys an allowed-signers file lists (see `parse`)."""
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigurationError(f"cannot read approver keys {path}: {e.strerror}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def from_env(cls) -> ApproverKeys | None:
        """What TETHER_APPROVER_KEYS says: the path of an allowed-signers file, or
        `unsigned`; None when it is unset."""
        value = os.environ.get(APPROVER_KEYS_VARIABLE, "").strip()
        if not value:
            return None
        if value == UNSIGNED:
            return cls(unsigned=True)
        return cls.from_file(value)

    def names_for(self, line: str) -> list[str] | None:
        """The names `line`'s key may sign for; None if the key is not trusted."""
        return self.keys.get(line)


class ApprovalRules(BaseModel):
    """A run's rules for deciding its calls, which its sub-agents' runs keep too: a
    decision on a child's call must satisfy its parents' rules as well as its own."""

    approvers: list[str] | None = None
    approver_keys: ApproverKeys | None = None
