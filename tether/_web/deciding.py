"""A decision (or an answer) made in a page: as the signed-in person, signed by the
app's service key for them, on exactly the call (and arguments) or the question the page
showed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from tether._client import AgentRun
from tether._questions import given_answer
from tether._run_io import PendingApproval, PendingQuestion
from tether._signing import Signer
from tether._web.access import WebUser
from tether._web.runs import RunDirectory

MAX_REASON_CHARS = 2_000


class DecisionRefused(Exception):
    """A decision that was not sent, or that the run refused; the message says why."""


async def decide(
    client: Client,
    directory: RunDirectory,
    signer: Signer | None,
    user: WebUser,
    workflow_id: str,
    *,
    call_id: str,
    digest: str | None,
    approve: bool,
    reason: str | None = None,
    arguments: str | None = None,
) -> PendingApproval:
    """Approve or reject `call_id` of a run `user` may see, as `user`.

    `digest` is that of the arguments the page showed: a call that waits with other
    arguments now is refused. `arguments` different from the call's approve it edited.
    """
    if not user.decide or await directory.visible(user, workflow_id) is None:
        raise DecisionRefused("you may not decide this run's calls")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise DecisionRefused(f"a reason has at most {MAX_REASON_CHARS:,} characters")
    try:
        pending = await directory.pending(workflow_id)
    except (RPCError, WorkflowQueryFailedError):
        raise DecisionRefused("the run does not answer now (is a worker running?)") from None
    call = next((p for p in pending if p.call_id == call_id), None)
    if call is None:
        raise DecisionRefused("that call does not wait for a decision (any more)")
    if digest is not None and call.digest is not None and digest != call.digest:
        raise DecisionRefused("the call's arguments changed since the page showed them")
    run = AgentRun.attach(client, workflow_id)
    with _refused_by_the_run():
        if not approve:
            return await run.reject(call, signer=signer, approver=user.name, reason=reason)
        edited = _edited(call, arguments)
        return await run.approve(
            call, signer=signer, approver=user.name, arguments=edited, reason=reason
        )


async def answer(
    client: Client,
    directory: RunDirectory,
    signer: Signer | None,
    user: WebUser,
    workflow_id: str,
    *,
    call_id: str,
    value: str,
) -> PendingQuestion:
    """Answer the question `call_id` of a run `user` may see, as `user`: `value` is what
    they typed or chose (JSON, or text for a question whose answer is text)."""
    if not user.decide or await directory.visible(user, workflow_id) is None:
        raise DecisionRefused("you may not answer this run's questions")
    try:
        waiting = await directory.questions(workflow_id)
    except (RPCError, WorkflowQueryFailedError):
        raise DecisionRefused("the run does not answer now (is a worker running?)") from None
    question = next((q for q in waiting if q.call_id == call_id), None)
    if question is None:
        raise DecisionRefused("that question does not wait for an answer (any more)")
    run = AgentRun.attach(client, workflow_id)
    with _refused_by_the_run():
        given = given_answer(value, question)
        return await run.answer(question, given, signer=signer, answerer=user.name)


@contextmanager
def _refused_by_the_run() -> Iterator[None]:
    """A decision or an answer the run's validator refused, as the one line it gave."""
    try:
        yield
    except WorkflowUpdateFailedError as e:
        cause = e.cause.message if hasattr(e.cause, "message") else str(e.cause)
        raise DecisionRefused(str(cause)) from None


def _edited(call: PendingApproval, arguments: str | None) -> str | None:
    """The arguments to run with, if the person changed them (None: as they wait)."""
    if arguments is None or not arguments.strip():
        return None
    try:
        given = json.loads(arguments)
    except json.JSONDecodeError as e:
        raise DecisionRefused(f"the edited arguments are not JSON: {e}") from None
    if not isinstance(given, dict):
        raise DecisionRefused("the edited arguments must be a JSON object")
    try:
        if given == json.loads(call.arguments):
            return None
    except json.JSONDecodeError:
        pass
    return json.dumps(given, ensure_ascii=False)
