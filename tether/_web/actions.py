"""What people do in the pages: decide a call, answer a question, start a chat, send a
message, and run an agent turn from an AG-UI client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pydantic
from ag_ui.core import RunAgentInput
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.service import RPCError

from tether._cli.live import feed_end
from tether._client import AgentRun
from tether._limits import MAX_PROMPT_CHARS
from tether._run_handles import RunExists
from tether._web.access import WebUser
from tether._web.agui import INTERRUPT_SEPARATOR, QUESTION, one_turn
from tether._web.context import WebContext, local_path
from tether._web.deciding import DecisionRefused, answer, decide
from tether._web.forms import FormRefused, read_body, read_form
from tether._web.pages import SSE_HEADERS, context, may_send, not_found

MAX_AGUI_BYTES = 1024 * 1024


async def decide_call(request: Request) -> Response:
    async def act(web: WebContext, user: WebUser, form: dict[str, str]) -> None:
        await decide(
            await web.client(),
            await web.directory(),
            web.config.signer,
            user,
            request.path_params["id"],
            call_id=form.get("call_id", ""),
            digest=form.get("digest") or None,
            approve=form.get("action") == "approve",
            reason=form.get("reason") or None,
            arguments=form.get("arguments"),
        )

    return await _person_acts(request, act)


async def answer_question(request: Request) -> Response:
    async def act(web: WebContext, user: WebUser, form: dict[str, str]) -> None:
        await answer(
            await web.client(),
            await web.directory(),
            web.config.signer,
            user,
            request.path_params["id"],
            call_id=form.get("call_id", ""),
            value=form.get("value", ""),
        )

    return await _person_acts(request, act)


async def _person_acts(
    request: Request, act: Callable[[WebContext, WebUser, dict[str, str]], Awaitable[None]]
) -> Response:
    """A signed-in person's form (a decision, an answer) acted on, then back to the page
    it came from; a refusal is shown as a page saying why."""
    web = context(request)
    if (user := web.user(request)) is None:
        return web.sign_in_first(request)
    try:
        form = await read_form(request, web.session(request))
        await act(web, user, form)
    except (FormRefused, DecisionRefused) as e:
        return web.page(request, "error.html", status=400, message=str(e))
    base = request.scope.get("root_path", "")
    return RedirectResponse(local_path(form.get("back"), base), status_code=303)


async def start_chat(request: Request) -> Response:
    web = context(request)
    if (user := web.user(request)) is None:
        return web.sign_in_first(request)
    try:
        form = await read_form(request, web.session(request))
    except FormRefused as e:
        return web.page(request, "error.html", status=400, message=str(e))
    agent, text = form.get("agent", ""), form.get("message", "").strip()
    error = _message_error(text)
    if agent not in web.config.agent_names() or not user.may_chat(agent):
        error = "you may not chat with that agent"
    if error is not None:
        agents = [a for a in web.config.agent_names() if user.may_chat(a)]
        return web.page(request, "new_chat.html", status=400, agents=agents, error=error)
    run = await AgentRun.start(
        await web.client(),
        agent,
        text,
        id=f"{agent}-chat-{uuid.uuid4().hex[:8]}",
        task_queue=web.config.task_queue,
        chat=True,
        acting_for=user.acting_for,
        started_by=user.name,
        watch=True,
    )
    base = request.scope.get("root_path", "")
    return RedirectResponse(f"{base}/chat/{quote(run.id, safe='')}", status_code=303)


async def send_message(request: Request) -> Response:
    web = context(request)
    if (user := web.user(request)) is None:
        return web.sign_in_first(request)
    workflow_id = request.path_params["id"]
    run = await (await web.directory()).visible(user, workflow_id)
    if run is None:
        return not_found(web, request)
    try:
        form = await read_form(request, web.session(request))
        if not may_send(user, run):
            raise FormRefused("you may not write in this run")
        text = form.get("message", "").strip()
        if (error := _message_error(text)) is not None:
            raise FormRefused(error)
        await _send(AgentRun.attach(await web.client(), workflow_id), text)
    except FormRefused as e:
        return web.page(request, "error.html", status=400, message=str(e))
    base = request.scope.get("root_path", "")
    return RedirectResponse(f"{base}/chat/{quote(workflow_id, safe='')}", status_code=303)


async def _send(run: AgentRun, text: str) -> None:
    """Hand the chat a message and return once it took it (the page shows the reply as
    it is written; waiting for it here would hold the request through any approval)."""
    try:
        await run.handle.start_update(
            "send", text, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=str
        )
    except (WorkflowUpdateFailedError, RPCError) as e:
        cause = getattr(e, "cause", None)
        raise FormRefused(f"the chat did not take the message: {cause or e}") from None


def _message_error(text: str) -> str | None:
    if not text:
        return "write a message"
    if len(text) > MAX_PROMPT_CHARS:
        return f"a message has at most {MAX_PROMPT_CHARS:,} characters"
    return None


async def agui_run(request: Request) -> Response:
    """`POST /agui/{agent}`: an AG-UI client's RunAgentInput. The thread is a chat run
    (its workflow id): a new thread starts one with the last user message, a known one
    is sent it, or, with `resume`, gets the decisions on the calls that interrupted it.
    The answer streams the turn as AG-UI events."""
    web = context(request)
    user, session = await web.caller(request)
    if user is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    agent = request.path_params["agent"]
    try:
        body = await read_body(request, session, MAX_AGUI_BYTES)
        given = RunAgentInput.model_validate_json(body)
    except FormRefused as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    except pydantic.ValidationError as e:
        return JSONResponse({"error": f"not a RunAgentInput: {e.errors()[0]['msg']}"}, 400)
    directory = await web.directory()
    client = await web.client()
    known = await directory.info(given.thread_id)
    try:
        if known is None:
            run, start = await _new_thread(web, user, given, agent), 0
        elif not web.config.rule(user, known) or known.agent != agent:
            return JSONResponse({"error": "no such thread"}, status_code=404)
        else:
            if not given.resume and not may_send(user, known):
                raise FormRefused("you may not write in this thread")
            run = AgentRun.attach(client, given.thread_id)
            start = await feed_end(client, run.id)  # this turn's events: those from now on
            await _continue(web, user, run, given)
    except (FormRefused, DecisionRefused, RunExists) as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    frames = one_turn(run, given.run_id, start)
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


async def _new_thread(web: WebContext, user: WebUser, given: RunAgentInput, agent: str) -> AgentRun:
    if agent not in web.config.agent_names() or not user.may_chat(agent):
        raise FormRefused("you may not chat with that agent")
    text = _last_user_text(given)
    if (error := _message_error(text)) is not None:
        raise FormRefused(error)
    return await AgentRun.start(
        await web.client(),
        agent,
        text,
        id=given.thread_id,
        task_queue=web.config.task_queue,
        chat=True,
        acting_for=user.acting_for,
        started_by=user.name,
        watch=True,
    )


async def _continue(web: WebContext, user: WebUser, run: AgentRun, given: RunAgentInput) -> None:
    """A known thread: the decisions (and answers) its client resumes with, else its new
    message."""
    if not given.resume:
        text = _last_user_text(given)
        if (error := _message_error(text)) is not None:
            raise FormRefused(error)
        await _send(run, text)
        return
    for entry in given.resume:
        call_id, _, digest = entry.interrupt_id.partition(INTERRUPT_SEPARATOR)
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        if digest == QUESTION:
            if entry.status == "resolved" and "answer" in payload:  # else it still waits
                await answer(
                    await web.client(),
                    await web.directory(),
                    web.config.signer,
                    user,
                    run.id,
                    call_id=call_id,
                    value=json.dumps(payload["answer"]),
                )
            continue
        approve = entry.status == "resolved" and payload.get("approve") is True
        arguments = payload.get("arguments")
        reason = payload.get("reason")
        await decide(
            await web.client(),
            await web.directory(),
            web.config.signer,
            user,
            run.id,
            call_id=call_id,
            digest=digest or None,
            approve=approve,
            reason=reason if isinstance(reason, str) else None,
            arguments=json.dumps(arguments) if isinstance(arguments, dict) else None,
        )


def _last_user_text(given: RunAgentInput) -> str:
    for message in reversed(given.messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, str):
                return content.strip()
            return " ".join(getattr(p, "text", "") for p in content).strip()
    return ""
