"""`chat` (an interactive conversation) and `send` (one message, one reply)."""

from __future__ import annotations

import argparse
import asyncio

from tether._cli.common import Handle, UserError, emit_json, explained, open_run, prog, run_link
from tether._cli.follow import POLL_SECONDS, Approver
from tether._cli.run import chosen_agent, finish, parse_input, start
from tether._seam import MAX_PROMPT_CHARS, RunState
from tether._temporal import connect
from tether._workflows.agent import AgentWorkflow

END = "/end"


async def cmd_send(args: argparse.Namespace) -> int:
    text = args.message.strip()
    if not text:
        raise UserError("the message is empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise UserError(f"the message is longer than {MAX_PROMPT_CHARS:,} characters")
    _, handle = await open_run(args.id)
    with explained(args.id):
        reply = await handle.execute_update(AgentWorkflow.send, text)
    if args.json:
        emit_json({"workflow_id": args.id, "reply": reply})
    else:
        print(reply)
    return 0


async def cmd_chat(args: argparse.Namespace) -> int:
    """Talk to an agent: a new chat run, or an open one with --id. `/end` ends the
    conversation; end of input (Ctrl-D) leaves it open to come back to."""
    if args.id is None:
        chosen_agent(args)  # before the user types anything
    print(f"(type your messages; {END} ends the conversation, Ctrl-D leaves it open)")
    if args.id is not None:
        client, handle = await open_run(args.id)
        with explained(args.id):
            state = await handle.query(AgentWorkflow.state)
        if not state.chat:
            raise UserError(f"run {args.id!r} is not a chat")
        print(f"▶ attached to {args.id} · {run_link(client, args.id)}")
        if state.last_message:
            print(f"agent> {state.last_message}")
    else:
        first = await read("you> ")
        if first is None or first == END:
            return 0
        params = parse_input(args, first, chat=True)  # checked before connecting
        client = await connect()
        handle = await start(client, params, None)
        print(f"▶ {handle.id} · {run_link(client, handle.id)}")
        state = await until_answered(handle, Approver(handle.id, ask=True))
        if state.status != "awaiting_user":
            link = run_link(client, handle.id)
            return await finish(handle, Approver(handle.id), link, as_json=False)
        print(f"agent> {state.last_message}")
    approver = Approver(handle.id, ask=True)
    while True:
        text = await read("you> ")
        if text is None:
            print(f"\nleft {handle.id} open; come back with: {prog()} chat --id {handle.id}")
            return 0
        if text == END:
            await handle.signal(AgentWorkflow.end)
            return await finish(handle, approver, run_link(client, handle.id), as_json=False)
        if text:
            with explained(handle.id):
                print(f"agent> {await reply_to(handle, text, approver)}")


async def read(prompt: str) -> str | None:
    try:
        return (await asyncio.to_thread(input, prompt)).strip()
    except EOFError:
        return None


async def reply_to(handle: Handle, text: str, approver: Approver) -> str:
    """Send `text`; while the agent works on it, ask for the approvals it needs."""
    sending = asyncio.create_task(handle.execute_update(AgentWorkflow.send, text))
    while not (await asyncio.wait({sending}, timeout=POLL_SECONDS))[0]:
        await approver.attend(handle, (await handle.query(AgentWorkflow.state)).pending_approvals)
    return sending.result()


async def until_answered(handle: Handle, approver: Approver) -> RunState:
    """The state once the run has answered its first message (or ended)."""
    while True:
        state = await handle.query(AgentWorkflow.state)
        if state.status not in ("running", "awaiting_approval"):
            return state
        await approver.attend(handle, state.pending_approvals)
        await asyncio.sleep(POLL_SECONDS)
