"""What a `tether web` app is configured with: its people, sign-in, key and address."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tether._agents import Agent, AgentRegistry
from tether._settings import ConfigurationError
from tether._signing import Signer
from tether._web.access import AccessRule, WebUser, default_rule

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Oidc:
    """Sign-in through the deployment's identity provider (OpenID Connect, the
    authorization code flow with PKCE).

    Args:
        issuer: The provider's issuer URL (its `/.well-known/openid-configuration` is
            read at the first sign-in).
        client_id: This app's client id at the provider.
        client_secret: Its secret (None for a public client, PKCE alone); read it from a
            file, never from argv.
        name_claim: The ID token's claim that names the person (a `WebUser` name).
        scopes: The scopes asked for.
    """

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    name_claim: str = "email"
    scopes: str = "openid email profile"


@dataclass(frozen=True)
class WebConfig:
    """A `tether web` app's configuration (`tether.web.create_app`).

    Args:
        users: The people who may sign in, by name (`tether.web.load_users` reads a
            users file).
        signer: The app's service key: every decision made in a page is signed with it
            for the person signed in. Workers trust its public key for `*` or for the
            names it may sign for (TETHER_APPROVER_KEYS). None sends decisions unsigned,
            which only runs that accept unsigned decisions take.
        oidc: Sign-in through an identity provider, besides the users' passwords.
        public_url: Where people reach the app (`https://approvals.example.com`); its
            host is the one the app answers to, and the provider redirects to it.
        allowed_hosts: Host names the app answers to (default: the public URL's, else
            the loopback names).
        rule: Which runs a person sees (default: by agent, or by `acting_for`).
        agents: The agents chats may be started with.
        task_queue: Where chats are started (default TETHER_TASK_QUEUE).
        session_secret: Signs session cookies (default: random, so sessions end with
            the process; give one to several processes).
        session_hours: How long a sign-in lasts.
        secure_cookies: Mark cookies Secure (default: unless the public URL is plain
            http on loopback).
    """

    users: Mapping[str, WebUser]
    signer: Signer | None
    oidc: Oidc | None = None
    public_url: str | None = None
    allowed_hosts: Sequence[str] = ()
    rule: AccessRule = default_rule
    agents: AgentRegistry | Sequence[Agent] = ()
    task_queue: str | None = None
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    session_hours: float = 8.0
    secure_cookies: bool | None = None

    def __post_init__(self) -> None:
        if self.public_url is not None:
            url = urlsplit(self.public_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ConfigurationError(f"public URL {self.public_url!r}: not an http(s) URL")
        if len(self.session_secret) < 16:
            raise ConfigurationError("the session secret must have at least 16 bytes")

    @property
    def signs_in(self) -> bool:
        """Whether anyone can sign in at all (a password or an identity provider)."""
        return self.oidc is not None or any(u.password_hash for u in self.users.values())

    def hosts(self) -> tuple[str, ...]:
        """The host names (without port) the app answers to."""
        if self.allowed_hosts:
            return tuple(self.allowed_hosts)
        if self.public_url:
            return (urlsplit(self.public_url).hostname or "",)
        return LOOPBACK_NAMES

    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        if self.public_url is None:
            return False  # served on loopback over plain http (see `check_bind`)
        url = urlsplit(self.public_url)
        return not (url.scheme == "http" and is_loopback(url.hostname or ""))

    def agent_names(self) -> list[str]:
        return sorted(a.name for a in self.agents)


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, config: WebConfig) -> None:
    """Refuse to serve beyond loopback to nobody in particular: a bind address other
    than loopback needs sign-in configured (people with passwords, or OIDC)."""
    if is_loopback(host):
        return
    if not config.signs_in:
        raise ConfigurationError(
            f"refusing to serve on {host}: nobody can sign in; configure --users FILE with "
            "passwords or --oidc-issuer, or bind to 127.0.0.1"
        )
    if config.public_url is None:
        raise ConfigurationError(
            f"serving on {host} needs --public-url (the https address people use, behind "
            "your TLS proxy): the app answers only to its host"
        )


def read_secret_file(path: str, what: str) -> str:
    """A secret from a file readable by its owner only (never from argv)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        with os.fdopen(fd) as f:
            mode = os.fstat(f.fileno()).st_mode
            text = f.read(64 * 1024).strip()
    except OSError as e:
        raise ConfigurationError(f"cannot read {what} {path}: {e.strerror}") from None
    if mode & 0o077:
        raise ConfigurationError(f"{what} {path} is readable by others: chmod 600 {path}")
    if not text:
        raise ConfigurationError(f"{what} {path} is empty")
    return text
