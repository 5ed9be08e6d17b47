"""The pages people read: the inbox, the runs, a run (live) and a chat, and the event
streams and pending calls those pages load."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from tether._client import AgentRun
from tether._run_io import RunState
from tether._web.access import RunInfo, WebUser
from tether._web.agui import observed
from tether._web.context import WebContext
from tether._web.filters import FilterError, matching, parse
from tether._web.streams import first_seq, tether_frames

STATE_SECONDS = 3.0
SSE_HEADERS = {"X-Accel-Buffering": "no"}  # a proxy in front passes each event at once


def context(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


async def inbox(request: Request) -> Response:
    web = context(request)
    if (user := web.user(request)) is None:
        return web.sign_in_first(request)
    directory = await web.directory()
    waiting = await directory.waiting(user)
    calls = waiting.calls
    agents = sorted({c.run.agent for c in calls} | {q.run.agent for q in waiting.questions})
    agent = request.query_params.get("agent", "")
    text = request.query_params.get("q", "")
    error = None
    try:
        conditions = parse(text)
    except FilterError as e:
        conditions, error = [], str(e)
    shown = [c for c in calls if not agent or c.run.agent == agent]
    shown = matching(shown, conditions, datetime.now(UTC))
    # A filter reads a call's arguments: with one, no question is shown.
    asked = [q for q in waiting.questions if not (conditions or (agent and q.run.agent != agent))]
    return web.page(
        request,
        "inbox.html",
        calls=shown,
        questions=asked,
        total=len(calls),
        agents=agents,
        agent=agent,
        q=text,
        error=error,
        now=datetime.now(UTC),
    )


async def runs(request: Request) -> Response:
    web = context(request)
    if (user := web.user(request)) is None:
        return web.sign_in_first(request)
    found = await (await web.directory()).listed(user, None)
    return web.page(request, "runs.html", runs=found)


async def run_page(request: Request) -> Response:
    """A run, live; a chat's page also takes messages from whoever may chat with its
    agent."""
    web, found = await _viewed_run(request, data=False)
    if isinstance(found, Response):
        return found
    user, run = found
    return web.page(
        request,
        "run.html",
        run=run,
        chat=may_send(user, run),
        state=await _state(web, run),
        may_decide=user.decide,
    )


def may_send(user: WebUser, run: RunInfo) -> bool:
    """Whether `user` may write in the run: a chat of an agent they may chat with."""
    return run.chat and user.may_chat(run.agent)


async def _state(web: WebContext, run: RunInfo) -> RunState | None:
    """The run's progress and spend as its worker reports it (None if none answers)."""
    handle = (await web.client()).get_workflow_handle(run.workflow_id)
    try:
        async with asyncio.timeout(STATE_SECONDS):
            state: RunState = await handle.query("state", result_type=RunState)
    except (RPCError, WorkflowQueryFailedError, TimeoutError):
        return None
    return state


async def new_chat(request: Request) -> Response:
    web = context(request)
    if (user := web.user(request)) is None:
        return web.sign_in_first(request)
    agents = [a for a in web.config.agent_names() if user.may_chat(a)]
    return web.page(request, "new_chat.html", agents=agents, error=None)


async def session(request: Request) -> Response:
    """Who is signed in and their CSRF token, for a script of this site (an AG-UI
    client): no other site can read it, since the app answers no cross-origin read."""
    web = context(request)
    signed = web.session(request)
    if signed is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    return JSONResponse({"user": signed.user, "csrf": signed.csrf})


async def pending(request: Request) -> Response:
    """The calls and the questions that wait for a person now, as JSON, for the run and
    chat pages."""
    web, found = await _viewed_run(request, data=True)
    if isinstance(found, Response):
        return found
    user, run = found
    try:
        state = await (await web.directory()).state(run.workflow_id)
        calls, questions = state.pending_approvals, state.pending_questions
    except (RPCError, WorkflowQueryFailedError):
        calls, questions = [], []  # ended, or no worker answers now
    return JSONResponse(
        {
            "may_decide": user.decide,
            "calls": [c.model_dump(mode="json") for c in calls],
            "questions": [q.model_dump(mode="json") for q in questions],
        }
    )


async def events(request: Request) -> Response:
    return await _stream(request, agui=False)


async def agui_events(request: Request) -> Response:
    return await _stream(request, agui=True)


async def _stream(request: Request, *, agui: bool) -> Response:
    web, found = await _viewed_run(request, data=True)
    if isinstance(found, Response):
        return found
    handle = AgentRun.attach(await web.client(), found[1].workflow_id)
    start = first_seq(request)
    frames = observed(handle, start) if agui else tether_frames(handle.events(from_seq=start))
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


async def _viewed_run(
    request: Request, *, data: bool
) -> tuple[WebContext, tuple[WebUser, RunInfo] | Response]:
    """The person and the run `{id}` names, or the answer for a person not signed in or
    a run they may not see (a page, or JSON for what a page's script reads)."""
    web = context(request)
    user = (await web.caller(request))[0] if data else web.user(request)
    if user is None:
        if data:
            return web, JSONResponse({"error": "sign in"}, status_code=401)
        return web, web.sign_in_first(request)
    run = await (await web.directory()).visible(user, request.path_params["id"])
    if run is None:
        if data:
            return web, JSONResponse({"error": "no such run"}, status_code=404)
        return web, not_found(web, request)
    return web, (user, run)


def not_found(web: WebContext, request: Request) -> Response:
    """The same page for a run that does not exist and one the person may not see."""
    return web.page(request, "error.html", status=404, message="No such run here.")
