"""Sign-in through an OpenID Connect provider: the authorization code flow with PKCE,
a state and a nonce; the ID token's signature is checked against the provider's keys
(its JWKS), and its issuer, audience, expiry and nonce against this sign-in."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from tether._web.config import Oidc

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
HTTP_SECONDS = 10.0
LEEWAY_SECONDS = 60


class SignInFailed(Exception):
    """A sign-in the provider or its token did not prove; the message says why."""


class OidcClient:
    """One identity provider, its metadata and keys read when first needed."""

    def __init__(self, oidc: Oidc) -> None:
        self.oidc = oidc
        self._metadata: dict[str, Any] | None = None
        self._keys: jwt.PyJWKSet | None = None

    async def begin(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The provider's URL to send the browser to, and what to keep until it comes
        back (in a signed cookie)."""
        metadata = await self._read_metadata()
        pending = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48),
        }
        challenge = _b64(hashlib.sha256(pending["verifier"].encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.oidc.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.oidc.scopes,
            "state": pending["state"],
            "nonce": pending["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{metadata['authorization_endpoint']}?{urlencode(query)}", pending

    async def finish(
        self, redirect_uri: str, params: dict[str, str], pending: dict[str, str]
    ) -> str:
        """The signed-in person's name, from the provider's answer at the callback."""
        if "error" in params:
            raise SignInFailed(f"the identity provider said: {params['error']}")
        if not secrets.compare_digest(params.get("state", ""), pending.get("state", "")):
            raise SignInFailed("this sign-in was not started here (state does not match)")
        metadata = await self._read_metadata()
        form = {
            "grant_type": "authorization_code",
            "code": params.get("code", ""),
            "redirect_uri": redirect_uri,
            "client_id": self.oidc.client_id,
            "code_verifier": pending["verifier"],
        }
        if self.oidc.client_secret is not None:
            form["client_secret"] = self.oidc.client_secret
        async with httpx.AsyncClient(timeout=HTTP_SECONDS) as http:
            answer = await http.post(metadata["token_endpoint"], data=form)
        if answer.status_code != 200:
            raise SignInFailed(f"the identity provider refused the code ({answer.status_code})")
        token = answer.json().get("id_token")
        if not isinstance(token, str):
            raise SignInFailed("the identity provider sent no ID token")
        claims = await self._verified(token)
        if not secrets.compare_digest(str(claims.get("nonce", "")), pending["nonce"]):
            raise SignInFailed("the ID token is not for this sign-in (nonce)")
        return self._name(claims)

    async def bearer(self, token: str) -> str:
        """The person an ID token names, if the provider signed it for this app and it
        has not expired (a program's `Authorization: Bearer`)."""
        claims = await self._verified(token)
        return self._name(claims)

    def _name(self, claims: dict[str, Any]) -> str:
        name = claims.get(self.oidc.name_claim)
        if not isinstance(name, str) or not name:
            raise SignInFailed(f"the ID token has no {self.oidc.name_claim!r} claim")
        if self.oidc.name_claim == "email" and claims.get("email_verified") is False:
            raise SignInFailed("the identity provider has not verified this email address")
        return name

    async def _verified(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = await self._key(kid)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.oidc.client_id,
                issuer=self.oidc.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as e:
            raise SignInFailed(f"the ID token does not verify: {e}") from None
        return claims

    async def _key(self, kid: str | None) -> Any:
        for fresh in (False, True):  # a key not seen yet: the provider rotated its keys
            if self._keys is None or fresh:
                metadata = await self._read_metadata()
                self._keys = jwt.PyJWKSet.from_dict(await _get_json(metadata["jwks_uri"]))
            for key in self._keys.keys:
                if kid is None or key.key_id == kid:
                    return key.key
        raise SignInFailed("the ID token is signed by a key the provider does not list")

    async def _read_metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
            metadata = await _get_json(url)
            if metadata.get("issuer") != self.oidc.issuer:
                raise SignInFailed(f"the provider at {url} names another issuer")
            self._metadata = metadata
        return self._metadata


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=HTTP_SECONDS) as http:
            answer = await http.get(url)
            answer.raise_for_status()
            value = answer.json()
    except (httpx.HTTPError, ValueError) as e:
        raise SignInFailed(f"cannot read {url}: {e}") from None
    if not isinstance(value, dict):
        raise SignInFailed(f"{url} is not a JSON object")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
