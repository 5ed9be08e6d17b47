"""`chat` (an interactive conversation) and `send` (one message, one reply)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from types import FrameType

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from tether._cli.common import (
    Handle,
    UserError,
    checked_message,
    emit_json,
    explained,
    open_run,
    prog,
    run_link,
)
from tether._cli.ending import plural, report_failure
from tether._cli.follow import POLL_SECONDS, Approver
from tether._cli.live import Screen, feed_end, written_while
from tether._cli.prompting import read_line
from tether._cli.reading import QUERY_SECONDS, ask_state, polling
from tether._cli.run import chosen_agent, parse_input, start
from tether._run_io import AgentResult, RunState
from tether._temporal import connect
from tether._workflows.agent import AgentWorkflow
from tether._workflows.interrupts import NO_ANSWER
from tether._workflows.publishing import OPEN_STATUSES

END = "/end"


async def cmd_send(args: argparse.Namespace) -> int:
    text = checked_message(args.message)
    client, handle = await open_run(args.id)
    # Someone else decides what waits for a person: it is said, on stderr.
    approver = Approver(args.id, namespace=client.namespace)
    screen = on_terminal(approver, before_text="") if not args.json else None
    with explained(args.id):
        reply = await answer(client, handle, text, approver, screen) or ""
    if args.json:
        emit_json({"workflow_id": args.id, "reply": reply})
    elif screen is None or screen.answer != reply:
        print(reply)
    return 0


def on_terminal(approver: Approver, *, before_text: str) -> Screen | None:
    """Where a reply's text is shown as the model writes it: a terminal's screen."""
    if not sys.stdout.isatty():
        return None  # a pipe gets each reply whole
    return Screen(tty=True, approver=approver, before_text=before_text)


async def answer(
    client: Client,
    handle: Handle,
    text: str,
    approver: Approver,
    screen: Screen | None,
    *,
    leave_undecided: bool = False,
) -> str | None:
    """`reply_to`, its reply written on `screen` (if any) as the model writes it."""
    replying = reply_to(handle, text, approver, leave_undecided=leave_undecided)
    if screen is None:
        return await replying
    start = await feed_end(client, handle.id)
    return await written_while(
        client, handle.id, screen, replying, lambda reply: reply, from_seq=start
    )


async def cmd_chat(args: argparse.Namespace) -> int:
    """Talk to an agent: a new chat run (named --id, if given), or the open chat --id.
    `/end` ends the conversation; end of input (Ctrl-D) leaves it open to come back to;
    Ctrl-C while the agent replies interrupts its turn, a second one leaves."""
    client, handle = await attach(args.id) if args.id is not None else (None, None)
    if handle is None:
        chosen_agent(args)  # before the user types anything
    print(
        f"(type your messages; Ctrl-C while the agent replies interrupts it, twice leaves; "
        f"{END} ends the conversation, Ctrl-D leaves it open)"
    )
    # On a terminal each approval is asked for; from a pipe the chat says how to decide.
    approver = Approver(args.id or "", ask=sys.stdin.isatty())
    screen = on_terminal(approver, before_text="agent> ")
    if handle is None:
        first = await read("you> ")
        if first is None or first == END:
            return 0
        params = parse_input(args, first, chat=True)  # checked before connecting
        client = await client_for(client)
        handle, _ = await start(client, params, args.id)
        approver.workflow_id, approver.namespace = handle.id, client.namespace
        print(f"▶ {handle.id} · {run_link(client, handle.id)}")
        answering = until_answered(handle, approver)
        async with ctrl_c_interrupts(handle):
            if screen is None:
                state = await answering
            else:
                state = await written_while(
                    client, handle.id, screen, answering, last_message, from_seq=0
                )
        if state is None:
            return left_open(handle.id)
        if state.status != "awaiting_user":
            return await ended(client, handle)
        if screen is None or screen.answer != state.last_message:
            print(f"agent> {state.last_message or NO_ANSWER}")  # None: interrupted
    assert client is not None
    approver.namespace = client.namespace
    while True:
        try:
            text = await read("you> ")
        except asyncio.CancelledError:  # Ctrl-C
            left_open(handle.id)
            raise
        if text is None:
            return left_open(handle.id)
        if text == END:
            await handle.signal(AgentWorkflow.end)
            return await ended(client, handle)
        if text:
            with explained(handle.id):
                async with ctrl_c_interrupts(handle):
                    reply = await answer(
                        client, handle, text, approver, screen, leave_undecided=not approver.ask
                    )
            if reply is None:
                return left_open(handle.id)
            if screen is None or screen.answer != reply:
                print(f"agent> {reply}")


@contextlib.asynccontextmanager
async def ctrl_c_interrupts(handle: Handle) -> AsyncIterator[None]:
    """While the agent replies, the first Ctrl-C interrupts its turn (the chat then takes
    the next message); a second one is asyncio's own, which leaves the chat."""
    loop = asyncio.get_running_loop()
    pressed = asyncio.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_ctrl_c(signum: int, frame: FrameType | None) -> None:
        if not pressed.is_set():
            loop.call_soon_threadsafe(pressed.set)
            return
        signal.signal(signal.SIGINT, previous)
        if not callable(previous):
            raise KeyboardInterrupt
        previous(signum, frame)

    async def interrupting() -> None:
        await pressed.wait()
        await interrupt_turn(handle)

    signal.signal(signal.SIGINT, on_ctrl_c)
    watching = asyncio.create_task(interrupting())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if not pressed.is_set():
            watching.cancel()
        # An interrupt asked is answered (the reply it stopped may come first).
        with contextlib.suppress(asyncio.CancelledError):
            await watching


async def interrupt_turn(handle: Handle) -> None:
    """Interrupt the run's turn, saying on stderr what that abandoned (or why not)."""
    try:
        taken = await handle.execute_update(AgentWorkflow.interrupt, None)
    except WorkflowUpdateFailedError as e:
        why = e.cause.message if isinstance(e.cause, FailureError) else str(e)
        print(f"\n  (not interrupted: {why})", file=sys.stderr)
        return
    abandoned = "; ".join(taken.abandoned) or "nothing was under way"
    print(
        f"\n  (interrupted turn {taken.turn}: abandoned {abandoned}; Ctrl-C again leaves)",
        file=sys.stderr,
    )


async def attach(workflow_id: str) -> tuple[Client, Handle | None]:
    """The open chat `workflow_id`, or None if no run has that id (a new chat gets it)."""
    client, handle = await open_run(workflow_id)
    try:
        described = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return client, None
        raise UserError(f"run {workflow_id!r}: {e.message}") from None
    with explained(workflow_id):
        if not await polling(client, described.task_queue):
            raise UserError(
                f"no worker is polling task queue {described.task_queue!r}, and a chat needs "
                f"one; start one with `tether worker --agents MODULE:ATTR` ({prog()} status "
                f"{workflow_id} reads the run meanwhile)"
            )
        state = await ask_state(handle)
    if state is None:
        raise UserError(
            f"run {workflow_id!r} did not answer within {QUERY_SECONDS:g} s: is a worker "
            f"running? ({prog()} status {workflow_id} says more)"
        )
    if not isinstance(state, RunState) or not state.chat:
        raise UserError(f"run {workflow_id!r} is not a chat; start one with {prog()} chat")
    if state.status not in OPEN_STATUSES:
        raise UserError(f"the conversation {workflow_id!r} has ended ({state.status})")
    print(f"▶ attached to {workflow_id} · {run_link(client, workflow_id)}")
    if state.last_message:
        print(f"agent> {state.last_message}")
    return client, handle


async def client_for(client: Client | None) -> Client:
    return client if client is not None else await connect()


def left_open(workflow_id: str) -> int:
    print(f"\nleft {workflow_id} open; come back with: {prog()} chat --id {workflow_id}")
    return 0


async def ended(client: Client, handle: Handle) -> int:
    """How the conversation ended, in one line: its answers were printed as they came."""
    link = run_link(client, handle.id)
    try:
        result: AgentResult = await handle.result()
    except WorkflowFailureError as e:  # failed or cancelled meanwhile
        return report_failure(handle.id, link, e, as_json=False)
    print(
        f"status {result.status} · {plural(result.turns, 'turn')} · "
        f"{result.usage.total_tokens} tokens · model {result.model}\nweb UI: {link}"
    )
    return 0 if result.status == "completed" else 1


async def read(prompt: str) -> str | None:
    try:
        return (await read_line(prompt)).strip()
    except EOFError:
        return None


async def reply_to(
    handle: Handle, text: str, approver: Approver, *, leave_undecided: bool = False
) -> str | None:
    """Send `text`; while the agent works on it, let `approver` see what waits for a
    person. With `leave_undecided`, None once a call waits that it could not ask about
    (no terminal): the reply comes once someone decides, and the caller leaves."""
    sending = asyncio.create_task(handle.execute_update(AgentWorkflow.send, text))
    try:
        while not (await asyncio.wait({sending}, timeout=POLL_SECONDS))[0]:
            state = await ask_state(handle)
            if state is not None:
                await approver.attend(handle, state.pending_approvals)
                if isinstance(state, RunState):
                    await approver.ask_questions(handle, state.pending_questions)
            if approver.undecided and leave_undecided:
                sending.cancel()  # the message stays sent; only waiting stops
                # Retrieved, or asyncio prints "Task exception was never retrieved".
                with contextlib.suppress(
                    asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError
                ):
                    await sending
                return None
    except asyncio.CancelledError:  # Ctrl-C
        print(
            f"\n  (stopped waiting: the message was sent, and run {handle.id} goes on; "
            f"{prog()} status {handle.id} shows the reply once there is one)",
            file=sys.stderr,
        )
        raise
    return sending.result()


async def until_answered(handle: Handle, approver: Approver) -> RunState | None:
    """The state once the run has answered its first message (or ended); None if a call
    waits that `approver` could not ask about."""
    while True:
        state = await ask_state(handle)
        if isinstance(state, RunState):
            if state.status not in ("running", "awaiting_approval", "awaiting_answer"):
                return state
            await approver.attend(handle, state.pending_approvals)
            if approver.undecided and not approver.ask:
                return None
        await asyncio.sleep(POLL_SECONDS)


def last_message(state: RunState | None) -> str | None:
    return state.last_message if state is not None else None
