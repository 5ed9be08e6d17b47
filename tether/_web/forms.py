"""Reading a form a page posted: URL-encoded, bounded, and carrying the session's
CSRF token."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from tether._web.guard import CSRF_FIELD, CSRF_HEADER, Session, csrf_ok

MAX_FORM_BYTES = 256 * 1024


class FormRefused(Exception):
    """A form that is too large, or without this session's CSRF token."""


async def read_form(request: Request, session: Session | None) -> dict[str, str]:
    """The posted fields (the last of each name); FormRefused unless `session` is None
    (signing in) or the form carries its CSRF token."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused("the form is too large")
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if session is not None:
        given = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not csrf_ok(session, given):
            raise FormRefused("the form's CSRF token is missing or stale: reload the page")
    return fields


async def read_body(request: Request, session: Session | None, limit: int) -> bytes:
    """A JSON body, bounded; with a session (a browser's cookie), only with its CSRF
    token in the X-CSRF-Token header."""
    if session is not None and not csrf_ok(session, request.headers.get(CSRF_HEADER)):
        raise FormRefused("missing or stale X-CSRF-Token header")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormRefused("the request is too large")
    return body
