"""What the commands share: the error a user can fix, JSON output, a run's handle, and
Temporal's errors turned into one line."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from tether._limits import MAX_PROMPT_CHARS
from tether._messages import Message
from tether._run_io import AgentResult, PendingApproval
from tether._settings import ConfigurationError, ui_url
from tether._signing import Signer
from tether._temporal import connect
from tether._workflows.agent import AgentWorkflow

Handle = WorkflowHandle[AgentWorkflow, AgentResult]


# What SQL visibility stores, and what deploy/dynamicconfig.yaml lets the server accept.
MAX_ID_CHARS = 255


# The program name commands print in the advice they give (`tether approve ...`), set by
# `main`: a project's own starter passes its own.
PROG = ["tether"]


def prog() -> str:
    return PROG[0]


IDENTITY_VARIABLE = "TETHER_IDENTITY"


def person() -> str:
    """Who uses this CLI, as its runs and decisions record it: TETHER_IDENTITY, else
    the login and host. A decision proves it with the user's signing key (the run must
    trust that key for this name); a run's `started_by` is only a label."""
    return os.environ.get(IDENTITY_VARIABLE) or f"{getpass.getuser()}@{socket.gethostname()}"


def cli_signer() -> Signer | None:
    """The CLI user's signing key, from the file TETHER_SIGNING_KEY names (never from
    argv), signing as `person()`; None when the variable is unset."""
    try:
        return Signer.from_env(name=person())
    except ConfigurationError as e:
        raise UserError(str(e)) from None


# Terminal escape sequences (CSI, OSC and the other ESC forms) and C1 controls, which a
# terminal may act on; the other control characters but newline and tab; and the
# characters that reorder or hide text (bidi controls, zero-width marks).
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(text: str) -> str:
    r"""`text` (a model's answer, a tool's result: anything untrusted) as a terminal
    shows it literally: escape sequences dropped, other controls as `?`, characters
    that reorder or hide text written as `\uXXXX`."""
    text = _CONTROLS.sub("?", _ESCAPES.sub("", text))
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class TerminalSafe(io.TextIOBase):
    """A text stream that writes everything through `terminal_safe`: what the CLI
    prints of a run (answers, tool results, transcripts) cannot steer the terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(terminal_safe(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def raw(self) -> TextIO:
        """The stream underneath, for the CLI's own control sequences (a progress bar
        redrawn in place) around text it made safe itself."""
        return self._stream

    def fileno(self) -> int:
        return self._stream.fileno()


def shown_call(call: PendingApproval) -> str:
    """A call that waits for a person, as the person is shown it: the tool, its
    arguments as they will run, the call id and the digest a decision must carry."""
    digest = f" · digest {call.digest}" if call.digest else ""
    return terminal_safe(f"{call.tool}({call.arguments}) · call {call.call_id}{digest}")


def decide_command(workflow_id: str, call: PendingApproval) -> str:
    """The command that approves exactly `call` (the one the person was shown)."""
    digest = f" --digest {call.digest}" if call.digest else ""
    return terminal_safe(f"{prog()} approve {workflow_id} --call {call.call_id}{digest}")


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def check_id(workflow_id: str) -> str:
    if not workflow_id.strip():
        raise UserError("the run id is empty")
    if len(workflow_id) > MAX_ID_CHARS:
        raise UserError(f"the run id is longer than {MAX_ID_CHARS} characters")
    try:
        workflow_id.encode()
    except UnicodeEncodeError:  # argv bytes that are not UTF-8 arrive as surrogates
        raise UserError("the run id is not valid UTF-8") from None
    return workflow_id


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def run_link(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    """The run's page in the web UI; without `run_id`, the latest run's (the UI takes
    `.../workflows/ID` to it, but `.../workflows/ID/` to a page that does not exist)."""
    namespace, run = quote(client.namespace, safe=""), quote(workflow_id, safe="")
    link = f"{ui_url()}/namespaces/{namespace}/workflows/{run}"
    return f"{link}/{quote(run_id, safe='')}" if run_id else link


async def open_run(workflow_id: str, run_id: str | None = None) -> tuple[Client, Handle]:
    """A handle on the run's workflow id: it follows the run through continue-as-new
    (unless `run_id` names one run of it)."""
    check_id(workflow_id)
    client = await connect()
    return client, client.get_workflow_handle_for(AgentWorkflow.run, workflow_id, run_id=run_id)


def checked_message(text: str) -> str:
    """A message for a run (`send`, `interrupt --message`), refused here in the run's
    own words if it would refuse it: no round trip."""
    text = text.strip()
    if not text:
        raise UserError("the message is empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise UserError(f"the message is longer than {MAX_PROMPT_CHARS:,} characters")
    return text


@contextmanager
def explained(workflow_id: str) -> Iterator[None]:
    """Temporal's errors about a run, as one line the user can act on."""
    try:
        yield
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        raise UserError(cause.message if isinstance(cause, FailureError) else str(e)) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND and "not found" in e.message.lower():
            raise UserError(f"no run with id {workflow_id!r}") from None
        raise UserError(f"run {workflow_id!r}: {e.message}") from None
    except PAYLOAD_ERRORS as e:
        raise UserError(f"run {workflow_id!r}: {unreadable(e)}") from None


# What reading a run's payloads raises when one cannot be read: gone from the payload
# store, encrypted with a key this process lacks, altered (the codec and the stores
# raise these; the SDK's S3 driver raises its own, derived from these too).
PAYLOAD_ERRORS = (ApplicationError, OSError, ValueError, InvalidTag)


def unreadable(error: BaseException) -> str:
    """Why a payload of the run cannot be read, in one line."""
    detail = error.message if isinstance(error, ApplicationError) else str(error)
    return f"cannot read a payload of its history ({type(error).__name__}: {detail or 'no detail'})"


def root_cause(error: BaseException) -> tuple[str, str]:
    """The type and message of what a failure chain started with: a run failed by an LLM
    call that hit the context limit is `ContextLengthExceeded`, not `ActivityError`."""
    found: BaseException = error
    while found.__cause__ is not None:
        found = found.__cause__
    if isinstance(found, ApplicationError) and found.type:
        return found.type, found.message
    if isinstance(found, FailureError):
        return type(found).__name__, found.message
    return type(found).__name__, str(found)


def numbered(messages: list[Message]) -> Iterator[tuple[Message, str | None]]:
    """Each message with its progress line (`describe`), turns counted from the start."""
    turn = 0
    for message in messages:
        if message.role == "assistant":
            turn += 1
        yield message, describe(message, turn)


def describe(message: Message, turn: int) -> str | None:
    """One line for a message of a run's progress (the answer is printed apart)."""
    if message.role == "assistant":
        calls = [f"  → {terminal_safe(f'{c.name}({c.arguments})')}" for c in message.tool_calls]
        return "\n".join([f"turn {turn}", *calls]) if calls else None
    if message.role == "tool":
        return f"  ← {result_text(message.content or '')}"
    return None


def result_text(content: str) -> str:
    """A tool's result in one line of a run's progress."""
    content = terminal_safe(" ".join(content.split()))  # one line
    return content[:117] + "…" if len(content) > 118 else content


def add_events_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        action="store_true",
        help="print each of the run's events as one JSON line (workflow_id, seq, type, ...)",
    )


def warnings(*, truncated: bool, tools_dropped: bool) -> list[str]:
    """What makes a run's answer less than it looks, one indented line each."""
    lines = []
    if truncated:
        lines.append(
            "  truncated: a reply was cut at its length limit (LlmPolicy.max_tokens or the "
            "model's context); the answer may be incomplete"
        )
    if tools_dropped:
        lines.append(
            "  tools dropped: the model server left the agent's tools out, and the model "
            "answered without them (see README, Providers)"
        )
    return lines
