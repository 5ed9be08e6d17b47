"""Signing in and out: a listed person's password, or the identity provider (OIDC)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tether._web.access import check_password
from tether._web.context import WebContext, local_path
from tether._web.forms import FormRefused, read_form
from tether._web.oidc import SignInFailed
from tether._web.pages import context


def _login_page(web: WebContext, request: Request, error: str | None, status: int) -> Response:
    passwords = any(u.password_hash for u in web.config.users.values())
    return web.page(
        request,
        "login.html",
        status=status,
        error=error,
        passwords=passwords,
        oidc=web.oidc is not None,
        next=local_path(request.query_params.get("next"), request.scope.get("root_path", "")),
    )


async def login_form(request: Request) -> Response:
    return _login_page(context(request), request, None, 200)


async def login(request: Request) -> Response:
    web = context(request)
    try:
        form = await read_form(request, None)
    except FormRefused as e:
        return _login_page(web, request, str(e), 400)
    user = web.config.users.get(form.get("name", "").strip())
    if not check_password(user, form.get("password", "")) or user is None:
        return _login_page(web, request, "unknown name or wrong password", 401)
    return _signed_in(web, request, user.name, form.get("next"))


def _signed_in(web: WebContext, request: Request, name: str, target: str | None) -> Response:
    response = RedirectResponse(
        local_path(target, request.scope.get("root_path", "")), status_code=303
    )
    web.sessions.issue(response, request, name)
    return response


async def logout(request: Request) -> Response:
    web = context(request)
    session = web.session(request)
    try:
        await read_form(request, session)
    except FormRefused as e:
        return web.page(request, "error.html", status=400, message=str(e))
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)
    web.sessions.clear(response, request)
    return response


def _callback_url(web: WebContext, request: Request) -> str:
    if web.config.public_url:
        return web.config.public_url.rstrip("/") + "/auth/callback"
    return str(request.url_for("oidc_callback"))


async def oidc_start(request: Request) -> Response:
    web = context(request)
    if web.oidc is None:
        return web.page(request, "error.html", status=404, message="No identity provider here.")
    try:
        url, pending = await web.oidc.begin(_callback_url(web, request))
    except SignInFailed as e:
        return _login_page(web, request, str(e), 502)
    pending["next"] = local_path(
        request.query_params.get("next"), request.scope.get("root_path", "")
    )
    response = RedirectResponse(url, status_code=303)
    web.sessions.start_login(response, request, pending)
    return response


async def oidc_callback(request: Request) -> Response:
    web = context(request)
    pending = web.sessions.login_under_way(request)
    if web.oidc is None or pending is None:
        return _login_page(web, request, "that sign-in expired: sign in again", 400)
    try:
        name = await web.oidc.finish(
            _callback_url(web, request), dict(request.query_params), pending
        )
    except SignInFailed as e:
        return _login_page(web, request, str(e), 401)
    return _signed_in(web, request, name, pending.get("next"))
