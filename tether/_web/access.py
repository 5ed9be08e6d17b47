"""Who may use `tether web`, and which runs each person may see, start and decide.

A deployment lists its people in a users file (TOML) or in code: each with the agents
whose runs they see, the customer they act for, the agents they may chat with and
whether they decide approvals. Local sign-in checks a password hash from that file; a
person signed in through the identity provider (OIDC) gets the rights listed under
their name, and none if they are not listed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tether._settings import ConfigurationError

ANY = "*"
# scrypt's cost: 2**15 takes ~0.1 s and 32 MiB here, which makes a guessing attack slow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
HASH_PREFIX = "scrypt"


@dataclass(frozen=True)
class WebUser:
    """A person who may sign in to `tether web`, and their rights.

    Args:
        name: Who they are: the approver name their decisions carry (for a person who
            signs in through the identity provider, the claim `Oidc.name_claim` names).
        agents: Agents whose runs they see, all of them (`*`: every agent).
        acting_for: The customer they are: they see the runs that act for it, and the
            chats they start act for it.
        chat: Agents they may start chats with (`*`: every agent the app knows).
        decide: They may approve and reject the calls of the runs they see.
        password_hash: For local sign-in: `hash_password`'s result; None signs in only
            through the identity provider.
    """

    name: str
    agents: tuple[str, ...] = ()
    acting_for: str | None = None
    chat: tuple[str, ...] = ()
    decide: bool = False
    password_hash: str | None = field(default=None, repr=False)

    def may_chat(self, agent: str) -> bool:
        """Whether they may start a chat with `agent`."""
        return ANY in self.chat or agent in self.chat


@dataclass(frozen=True)
class RunInfo:
    """What a page knows of a run before showing it: enough to decide who sees it.

    Args:
        workflow_id: The run's workflow id.
        agent: Its agent (a pipeline's workflow type).
        acting_for: Who the run acts for, as its starter said.
        started_by: Who started it, as its starter said.
        started_at: When it started.
        chat: It is a chat (it takes more messages).
    """

    workflow_id: str
    agent: str
    acting_for: str | None = None
    started_by: str | None = None
    started_at: datetime | None = None
    chat: bool = False


AccessRule = Callable[[WebUser, RunInfo], bool]


def default_rule(user: WebUser, run: RunInfo) -> bool:
    """A person sees a run of an agent listed in their `agents`, or one that acts for
    the customer they are."""
    if ANY in user.agents or run.agent in user.agents:
        return True
    return user.acting_for is not None and run.acting_for == user.acting_for


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, for a users file's `password`."""
    if not password:
        raise ValueError("an empty password")
    salt = os.urandom(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    parts = [HASH_PREFIX, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    return "$".join(parts)


# Checked against when the name is unknown, so an unknown name costs as long as a known one.
_DECOY = f"{HASH_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'A' * 22}${'A' * 43}"


def check_password(user: WebUser | None, password: str) -> bool:
    """Whether `password` is `user`'s (False for no user, or one without a password)."""
    stored = user.password_hash if user is not None else None
    parts = (stored or _DECOY).split("$")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except (IndexError, ValueError):
        return False
    matches = hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)
    return matches and stored is not None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_users(path: str | Path) -> dict[str, WebUser]:
    """The people a users file lists: `[[user]]` tables with `name` and the fields of
    `WebUser` (`password` for the hash)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigurationError(f"cannot read users file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"users file {path}: {e}") from None
    entries = data.get("user", [])
    if not isinstance(entries, list):
        raise ConfigurationError(f"users file {path}: write each person as a [[user]] table")
    users: dict[str, WebUser] = {}
    for number, entry in enumerate(entries, 1):
        user = _user(entry, f"users file {path}, user {number}")
        if user.name in users:
            raise ConfigurationError(f"users file {path}: {user.name!r} is listed twice")
        users[user.name] = user
    return users


def _user(entry: Mapping[str, Any], where: str) -> WebUser:
    known = {"name", "password", "agents", "acting_for", "chat", "decide"}
    if unknown := sorted(set(entry) - known):
        raise ConfigurationError(f"{where}: unknown field {unknown[0]!r} (known: {sorted(known)})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{where}: give it a name")
    password = entry.get("password")
    if password is not None and not str(password).startswith(HASH_PREFIX + "$"):
        raise ConfigurationError(
            f"{where}: password must be a hash (tether web --hash-password), never the password"
        )
    lists = {k: entry.get(k, []) for k in ("agents", "chat")}
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{where}: {key} must be a list of agent names")
    acting_for = entry.get("acting_for")
    if acting_for is not None and not isinstance(acting_for, str):
        raise ConfigurationError(f"{where}: acting_for must be a string")
    return WebUser(
        name=name.strip(),
        agents=tuple(lists["agents"]),
        acting_for=acting_for,
        chat=tuple(lists["chat"]),
        decide=entry.get("decide") is True,
        password_hash=password,
    )
