"""What every request passes before a page sees it: the Host it names, the Origin of a
form or call that changes something, the session cookie and its CSRF token; and the
headers every response carries (a strict CSP: the pages run only their own script).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether._web.config import WebConfig

SESSION_COOKIE = "tether_session"
LOGIN_COOKIE = "tether_login"  # a sign-in under way at the identity provider
LOGIN_SECONDS = 600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Session:
    """A signed-in person: their name, and the token their forms carry."""

    user: str
    csrf: str


class Sessions:
    """Session cookies: signed (and timed) by the app's secret, HttpOnly, SameSite=Lax,
    Secure unless served on loopback over plain http."""

    def __init__(self, config: WebConfig) -> None:
        self._signer = URLSafeTimedSerializer(config.session_secret, salt="tether-web-session")
        self._login = URLSafeTimedSerializer(config.session_secret, salt="tether-web-login")
        self._max_age = int(config.session_hours * 3600)
        self._secure = config.cookies_secure()

    def read(self, request: Request) -> Session | None:
        value = self._loads(self._signer, request.cookies.get(SESSION_COOKIE), self._max_age)
        if not isinstance(value, dict) or not {"u", "c"} <= value.keys():
            return None
        return Session(user=str(value["u"]), csrf=str(value["c"]))

    def issue(self, response: Response, request: Request, user: str) -> None:
        token = self._signer.dumps({"u": user, "c": secrets.token_urlsafe(24)})
        self._set(response, request, SESSION_COOKIE, token, self._max_age)

    def clear(self, response: Response, request: Request) -> None:
        response.delete_cookie(SESSION_COOKIE, path=cookie_path(request))

    def start_login(self, response: Response, request: Request, pending: dict[str, str]) -> None:
        self._set(response, request, LOGIN_COOKIE, self._login.dumps(pending), LOGIN_SECONDS)

    def login_under_way(self, request: Request) -> dict[str, str] | None:
        value = self._loads(self._login, request.cookies.get(LOGIN_COOKIE), LOGIN_SECONDS)
        return value if isinstance(value, dict) else None

    def _set(self, response: Response, request: Request, name: str, value: str, age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path=cookie_path(request),
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    @staticmethod
    def _loads(signer: URLSafeTimedSerializer, token: str | None, max_age: int) -> Any:
        if not token:
            return None
        try:
            return signer.loads(token, max_age=max_age)
        except BadSignature:  # altered, expired, or signed by another secret
            return None


def cookie_path(request: Request) -> str:
    return request.scope.get("root_path") or "/"


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())


class Guard:
    """ASGI middleware: refuse a Host the app does not answer to (DNS rebinding) and a
    state-changing request from another origin; add the security headers."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.hosts = {h.lower() for h in config.hosts()}
        self.public_origin = _origin(config.public_url) if config.public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        refusal = None
        if _hostname(host) not in self.hosts:
            refusal = "unknown host"
        elif (
            scope["method"] not in SAFE_METHODS
            and not _program(headers)
            and not self._same_origin(headers, host)
        ):
            refusal = "cross-origin request refused"
        if refusal is not None:
            await PlainTextResponse(refusal, status_code=403)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _same_origin(self, headers: dict[str, str], host: str) -> bool:
        origin = headers.get("origin") or _origin(headers.get("referer", ""))
        if not origin or origin == "null":
            return False
        if self.public_origin is not None:
            return origin == self.public_origin
        return origin in (f"http://{host}", f"https://{host}")


def _program(headers: dict[str, str]) -> bool:
    """A program's call: a bearer token and no cookie. A page of another site cannot
    send one (a browser asks this app first, and it answers no cross-origin request),
    and with no cookie it carries nobody's session."""
    bearer = headers.get("authorization", "").lower().startswith("bearer ")
    return bearer and "cookie" not in headers and "origin" not in headers


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host[: host.find("]") + 1].lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()
