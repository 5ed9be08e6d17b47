"""What every handler of a `tether web` app shares: its configuration, the Temporal
client (connected at the first request, so the app works mounted in another ASGI app,
whose lifespan does not reach it), the runs it reads, sessions and the templates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from temporalio.client import Client

from tether._temporal import connect
from tether._web.access import WebUser
from tether._web.config import WebConfig
from tether._web.guard import Session, Sessions
from tether._web.oidc import OidcClient, SignInFailed
from tether._web.runs import RunDirectory

HERE = Path(__file__).parent


class WebContext:
    def __init__(self, config: WebConfig, client: Client | None) -> None:
        self.config = config
        self.sessions = Sessions(config)
        self.oidc = OidcClient(config.oidc) if config.oidc is not None else None
        self._client = client
        self._directory: RunDirectory | None = None
        self._connecting = asyncio.Lock()
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every value a page shows is text, never markup
            undefined=jinja2.StrictUndefined,
        )
        self.templates = Jinja2Templates(env=environment)

    async def client(self) -> Client:
        async with self._connecting:
            if self._client is None:
                self._client = await connect()
            return self._client

    async def directory(self) -> RunDirectory:
        if self._directory is None:
            self._directory = RunDirectory(await self.client(), self.config.rule)
        return self._directory

    def session(self, request: Request) -> Session | None:
        return self.sessions.read(request)

    def user(self, request: Request) -> WebUser | None:
        """The signed-in person (someone the provider signed in but the users do not
        list has no rights)."""
        session = self.session(request)
        if session is None:
            return None
        return self.config.users.get(session.user) or WebUser(name=session.user)

    async def caller(self, request: Request) -> tuple[WebUser | None, Session | None]:
        """Who calls an endpoint a program may use (the event streams, AG-UI): the
        bearer of an ID token the identity provider signed for this app, else the
        signed-in person and their session (whose posts then need its CSRF token)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.user(request), self.session(request)
        if self.oidc is None:
            return None, None
        try:
            name = await self.oidc.bearer(token.strip())
        except SignInFailed:
            return None, None
        return self.config.users.get(name) or WebUser(name=name), None

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> Response:
        session = self.session(request)
        values.setdefault("user", self.user(request))
        values.setdefault("csrf", session.csrf if session else "")
        values.setdefault("base", request.scope.get("root_path", ""))
        values.setdefault("can_chat", bool(self.config.agent_names()))
        response: HTMLResponse = self.templates.TemplateResponse(
            request, name, values, status_code=status
        )
        return response

    def sign_in_first(self, request: Request) -> Response:
        base = request.scope.get("root_path", "")
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"{base}/login?{_next(back)}", status_code=303)
        return response


def _next(path: str) -> str:
    return urlencode({"next": path})


def local_path(target: str | None, base: str) -> str:
    """`target` if it is a path of this app (never another site: an open redirect), else
    the inbox."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return f"{base}/"
