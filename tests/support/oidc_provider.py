"""A small OpenID Connect provider on loopback, for the `tether web` sign-in tests: it
signs in whoever `person` names at once (as a provider whose user is already signed
in), checks the code, PKCE verifier, client and redirect URI at its token endpoint, and
issues an RS256 ID token from its JWKS. `tamper` makes it issue a bad token."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "tether-web"
CLIENT_SECRET = "s3cret-of-the-test"
KID = "test-key-1"


@dataclass
class Provider:
    issuer: str = ""
    person: str = "lead@shop.test"
    tamper: str | None = None  # "audience", "nonce", "key", "issuer"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens_issued: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.metadata),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": q["nonce"],
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
        }
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        grant = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (
            grant is None
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
            or form.get("redirect_uri") != grant["redirect_uri"]
            or challenge.decode().rstrip("=") != grant["challenge"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        self.tokens_issued += 1
        return JSONResponse({"id_token": self.id_token(grant["nonce"]), "token_type": "Bearer"})

    def id_token(self, nonce: str) -> str:
        """An ID token for `person`, as the token endpoint issues it (or tampered)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer if self.tamper != "issuer" else "https://elsewhere.test",
            "sub": "user-1",
            "aud": CLIENT_ID if self.tamper != "audience" else "another-app",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce if self.tamper != "nonce" else "a-nonce-of-another-sign-in",
            "email": self.person,
            "email_verified": True,
        }
        key = self.key
        if self.tamper == "key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})

    async def jwks(self, request: Request) -> Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})
