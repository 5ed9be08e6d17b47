"""Who may use the codec server: a bearer token in a header, never in a URL.

Two kinds of caller present one: a script or the `temporal` CLI (`--codec-auth`, or
TEMPORAL_CODEC_AUTH) shows the shared TETHER_CODEC_TOKEN; a web UI with a login forwards
its user's access token (the UI's `codec.passAccessToken`), which is checked against the
identity provider's signing keys (its JWKS), never replaced by a shared secret.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from tether._settings import ConfigurationError
from tether._version import extra

OIDC_EXTRA = f"checking access tokens needs Tether's oidc extra: {extra('oidc')}"
# What a forwarded access token may be signed with: the identity provider's key says
# which; symmetric ones (HS*) and `none` are never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class AccessTokens:
    """Access tokens an identity provider signed: valid signature by one of its keys
    (fetched from `jwks_url`, cached), not expired, and for `audience` and from `issuer`
    when given.

    Args:
        jwks_url: The provider's JWKS URL (the one Temporal's authorizer is given).
        audience: The `aud` a token must carry (the UI's OIDC client, say).
        issuer: The `iss` a token must carry.
        timeout: Seconds to wait for the provider's keys.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        try:
            import jwt
        except ImportError:
            raise ConfigurationError(OIDC_EXTRA) from None
        self._jwt: Any = jwt
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=timeout)
        self.audience = audience
        self.issuer = issuer

    def valid(self, token: str) -> bool:
        """Whether `token` is one the provider signed, current and meant for here."""
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            if key.algorithm_name not in ALGORITHMS:
                return False
            self._jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except (self._jwt.PyJWTError, ValueError, OSError):
            return False
        return True


def bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header."""
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def shared_token_matches(presented: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(presented.encode(), token.encode())


DEFAULT_UI_ORIGIN = "http://localhost:8233"
TOKEN_VARIABLE = "TETHER_CODEC_TOKEN"
MIN_TOKEN_CHARS = 16
# A payload is at most 2 MiB; base64 in JSON adds a third, and the UI sends a few at once.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_CONNECTIONS = 16


@dataclass(frozen=True)
class Policy:
    """Who may use the codec server, and for what."""

    token: str | None
    allowed_hosts: frozenset[str]
    ui_origins: frozenset[str]
    namespaces: frozenset[str] = frozenset({"default"})
    access_tokens: AccessTokens | None = None
    allow_encode: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        if self.access_tokens is None and self.token is None:
            raise ConfigurationError(
                f"the codec server needs {TOKEN_VARIABLE} (e.g. `openssl rand -hex 24`), "
                "or --jwks-url to check a web UI's access tokens"
            )
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise ConfigurationError(
                f"the codec server's token must be at least {MIN_TOKEN_CHARS} characters "
                f"(set {TOKEN_VARIABLE}, e.g. to `openssl rand -hex 24`)"
            )

    def admits(self, token: str) -> bool:
        """Whether `token` is the shared one, or an access token the provider signed."""
        if shared_token_matches(token, self.token):
            return True
        return self.access_tokens is not None and self.access_tokens.valid(token)

    @property
    def routes(self) -> tuple[str, ...]:
        return ("decode", "encode") if self.allow_encode else ("decode",)


def loopback_hosts(port: int) -> frozenset[str]:
    """The Host headers a loopback server on `port` is reached by."""
    return frozenset(f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))
