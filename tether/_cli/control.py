"""`approve`, `reject`, `answer`, `interrupt` and `cancel`: decisions (and answers) a
person sends to a run.

A decision names the call it is for and carries the digest of the arguments the person
was shown, so it cannot land on another call, or on the same call id with other
arguments; it is signed with the user's key (TETHER_SIGNING_KEY), which proves who
decided. Without `--call`, only a terminal may decide: it shows the call and asks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from tether._cli.common import (
    UserError,
    checked_message,
    cli_signer,
    emit_json,
    explained,
    open_run,
    person,
    prog,
    shown_call,
)
from tether._cli.follow import POLL_SECONDS, Waiting, decision_on, signed
from tether._cli.history import execution_status
from tether._cli.prompting import read_line
from tether._client import AgentRun
from tether._questions import given_answer
from tether._run_io import ApprovalDecision, PendingApproval, PendingQuestion
from tether._validation import describe, json_object
from tether._workflows.agent import AgentWorkflow

CANCEL_WAIT_SECONDS = 30
MIN_DIGEST_CHARS = 8


async def cmd_decide(args: argparse.Namespace) -> int:
    approve = args.command == "approve"
    reason = None if approve else args.reason
    arguments = args.arguments if approve else None
    checked_decision(  # malformed input is refused before anything is sent
        call_id=args.call, approve=approve, reason=reason, arguments=arguments, approver=person()
    )
    if args.digest is not None and len(args.digest) < MIN_DIGEST_CHARS:
        raise UserError(f"--digest needs at least {MIN_DIGEST_CHARS} characters of the digest")
    signer = cli_signer()  # a key file that cannot be read is named before anything is asked
    client, handle = await open_run(args.id)
    with explained(args.id):
        if args.call is None and not sys.stdin.isatty():
            await pending(handle)  # an unknown run is named first
            raise UserError(
                f"name the call to {args.command} with --call CALL_ID "
                f"(`{prog()} status {args.id}` shows the calls that wait, with their digests)"
            )
        if args.call is None:
            call = await asked(handle, args.command, args.wait)
        else:
            call = await waiting_call(handle, args.call, args.digest, args.wait)
        decision = checked_decision(
            **decision_on(call, approve=approve, reason=reason, arguments=arguments).model_dump()
        )
        decision = await signed(decision, call, handle, client.namespace, signer)
        # The workflow's validator refuses unknown, decided, changed or unproven calls.
        runs = await handle.execute_update(AgentWorkflow.decide, decision)
    verb = "approved" if approve else "rejected"
    if args.json:
        emit_json(
            {
                "workflow_id": args.id,
                "decision": verb,
                "approver": decision.approver,
                "edited": arguments is not None,
                **runs.model_dump(mode="json"),
            }
        )
    else:
        edited = " (edited)" if arguments is not None else ""
        print(f"{verb} {shown_call(runs)}{edited} · by {decision.approver} · run {args.id}")
    return 0


async def waiting_call(
    handle: WorkflowHandle[Any, Any], call_id: str, digest: str | None, wait: float | None
) -> PendingApproval:
    """The call `call_id` that waits for a person (after up to `wait` seconds), checked
    against the digest the person was shown."""
    call = await until_pending(handle, wait or 0, call_id)
    if call is None:
        waiting = await pending(handle)
        names = ", ".join(c.call_id for c in waiting) or "none"
        raise UserError(f"no tool call {call_id!r} waits for approval (waiting: {names})")
    if digest is not None and not (call.digest or "").startswith(digest):
        raise UserError(
            f"call {call_id!r} waits with other arguments than digest {digest}: "
            f"{shown_call(call)}; look at it again"
        )
    return call


async def asked(handle: WorkflowHandle[Any, Any], verb: str, wait: float | None) -> PendingApproval:
    """The one waiting call, once the person at the terminal has seen it and said yes."""
    if await until_pending(handle, wait or 0) is None:
        within = f" in {wait:g} s" if wait else ""
        raise UserError(f"no call of run {handle.id!r} waited for approval{within}")
    waiting = await pending(handle)
    if len(waiting) != 1:
        calls = "\n".join(f"  {shown_call(c)}" for c in waiting)
        raise UserError(f"{len(waiting)} calls wait; name one with --call:\n{calls}")
    [call] = waiting
    try:
        answer = await read_line(f"{verb} {shown_call(call)}? [y/N] ")
    except asyncio.CancelledError:  # Ctrl-C
        print("\n(interrupted: nothing was sent; the call still waits)", file=sys.stderr)
        raise
    if answer.strip().lower() not in ("y", "yes"):
        raise UserError(f"not {verb}d: nothing was sent")
    return call


async def pending(handle: WorkflowHandle[Any, Any]) -> list[PendingApproval]:
    state: Waiting = await handle.query("state", result_type=Waiting)
    return state.pending_approvals


async def until_pending(
    handle: WorkflowHandle[Any, Any], seconds: float, call_id: str | None = None
) -> PendingApproval | None:
    """The call `call_id` (or any call) once it waits for a person, polling up to
    `seconds` (a script's `approve --wait`); None if it does not."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        for call in await pending(handle):
            if call_id is None or call.call_id == call_id:
                return call
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


def checked_decision(**fields: object) -> ApprovalDecision:
    """The decision, refused here if it is malformed: no round trip to the run, and
    the same words as the workflow's validator."""
    try:
        decision = ApprovalDecision.model_validate(fields)
        if decision.arguments is not None:
            json_object(decision.arguments, what="edited arguments")
    except ValidationError as e:
        raise UserError(f"invalid decision: {describe(e)}") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    return decision


async def cmd_answer(args: argparse.Namespace) -> int:
    """Answer a question the agent asked a person: VALUE is JSON, or plain text for a
    question whose answer is text."""
    signer = cli_signer()
    client, _ = await open_run(args.id)
    run = AgentRun.attach(client, args.id)
    with explained(args.id):
        question = await waiting_question(run, args.call, args.wait or 0)
        value = given_answer(args.value, question)
        # The workflow's validator refuses an answer its schema or its answerers refuse.
        await run.answer(question, value, signer=signer, answerer=person())
    given = json.dumps(value, ensure_ascii=False)
    if args.json:
        emit_json(
            {"workflow_id": args.id, "call_id": question.call_id, "answer": value, "by": person()}
        )
    else:
        asked = " ".join(question.question.split())
        who = f"by {person()} · run {args.id}"
        print(f"answered {asked!r} (call {question.call_id}) with {given} · {who}")
    return 0


async def waiting_question(run: AgentRun, call_id: str, wait: float) -> PendingQuestion:
    """The question `call_id` that waits for an answer, after up to `wait` seconds."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        waiting = await run.pending_questions()
        found = [q for q in waiting if q.call_id == call_id]
        if found:
            return found[0]
        if asyncio.get_running_loop().time() >= deadline:
            names = ", ".join(q.call_id for q in waiting) or "none"
            raise UserError(f"no question {call_id!r} waits for an answer (waiting: {names})")
        await asyncio.sleep(POLL_SECONDS)


async def cmd_interrupt(args: argparse.Namespace) -> int:
    """Stop the turn a run is taking (see AgentRun.interrupt); with --message, the run
    goes on with it. Prints what the interrupt abandoned."""
    message = checked_message(args.message) if args.message is not None else None
    _, handle = await open_run(args.id)
    with explained(args.id):
        await running(handle)
        taken = await handle.execute_update(AgentWorkflow.interrupt, message)
    if args.json:
        emit_json({"workflow_id": args.id, "turn": taken.turn, "abandoned": taken.abandoned})
        return 0
    abandoned = "; ".join(taken.abandoned) or "nothing (the step under way had just ended)"
    goes_on = "goes on with your message" if message else "waits for what to do next"
    print(f"interrupted turn {taken.turn} of {args.id}: abandoned {abandoned}; it {goes_on}")
    return 0


async def running(handle: WorkflowHandle[Any, Any]) -> None:
    """Refuse a run that has ended (the server would say only "already completed")."""
    described = await handle.describe()
    if described.status != WorkflowExecutionStatus.RUNNING:
        raise UserError(
            f"run {handle.id!r} has already ended ({execution_status(described.status)})"
        )


async def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a run and wait (briefly) until it has stopped: its in-flight tools are
    cancelled first, and its transcript stays queryable."""
    _, handle = await open_run(args.id)
    with explained(args.id):
        await running(handle)
        await handle.cancel()
    try:
        await asyncio.wait_for(handle.result(), CANCEL_WAIT_SECONDS)
    except WorkflowFailureError:
        pass  # how a cancelled run ends
    except TimeoutError:
        raise UserError(
            f"asked run {args.id!r} to cancel; it has not stopped after "
            f"{CANCEL_WAIT_SECONDS} s (is a worker running?)"
        ) from None
    if args.json:
        emit_json({"workflow_id": args.id, "status": "cancelled"})
    else:
        print(f"cancelled {args.id}; its transcript is kept: {prog()} transcript {args.id}")
    return 0
