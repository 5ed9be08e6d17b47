"""The parser of `tether` (and of a project's own starter) and its dispatch to one
coroutine per command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

from tether._cli.chat import cmd_chat, cmd_send
from tether._cli.common import PROG, TerminalSafe, UserError, add_events_option
from tether._cli.control import cmd_answer, cmd_cancel, cmd_decide, cmd_interrupt
from tether._cli.keys import add_keygen_command
from tether._cli.model import add_model_command
from tether._cli.pipeline import add_pipeline_command
from tether._cli.run import add_run_options, cmd_run
from tether._cli.views import STATUSES, cmd_list, cmd_status, cmd_transcript, cmd_watch
from tether._cli.wakeup import signals_wake_the_loop
from tether._cli.web import add_web_command
from tether._cli.worker import add_health_command, add_worker_command
from tether._evals.command import add_eval_command
from tether._settings import ConfigurationError
from tether._temporal import TemporalUnreachable
from tether._version import DISTRIBUTION, installed_version

Command = Callable[[argparse.Namespace], Awaitable[int]]
STDOUT = 1


async def cmd_replay(args: argparse.Namespace) -> int:
    # Only `replay` needs the SDK's replayer, whose import costs every command ~0.1 s.
    from tether._cli.replay import cmd_replay

    return await cmd_replay(args)


async def _woken_by_signals(command: Awaitable[int]) -> int:
    with signals_wake_the_loop():
        return await command


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake in one line like every other error (not the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(
    prog: str = "tether",
    *,
    default_agent: str | None = None,
    default_pipeline: str | None = None,
) -> argparse.ArgumentParser:
    parser = Parser(prog=prog, description="Run and steer Tether agents.")
    parser.add_argument(
        "--version", action="version", version=f"{DISTRIBUTION} {installed_version()}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_worker_command(commands)
    add_health_command(commands)
    add_model_command(commands)
    add_keygen_command(commands)
    add_web_command(commands)

    def command(
        name: str, run: Command, help: str, *, json: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        if json:
            sub.add_argument("--json", action="store_true", help="print JSON")
        return sub

    run = command("run", cmd_run, "start a run and follow it to its answer")
    run.add_argument("prompt", help="what the user asks the agent")
    add_run_options(run, default_agent)
    run.add_argument("--id", help="workflow id (default: AGENT-<random>)")
    run.add_argument("--detach", action="store_true", help="start and return at once")
    run.add_argument(
        "--yes", action="store_true", help="approve every call that needs approval, unasked"
    )
    add_events_option(run)

    add_pipeline_command(commands, default_pipeline)
    add_eval_command(commands)

    chat = command("chat", cmd_chat, "talk with an agent: a new chat, or --id ID", json=False)
    add_run_options(chat, default_agent)
    chat.add_argument("--id", help="attach to this open chat")

    send = command("send", cmd_send, "send a message to a chat run; prints the reply")
    send.add_argument("id", help="workflow id of the chat")
    send.add_argument("message")

    for verb in ("approve", "reject"):
        decide = command(verb, cmd_decide, f"{verb} a tool call that waits for a person")
        decide.add_argument("id", help="workflow id")
        decide.add_argument(
            "--call",
            help="the tool call id, as `status` shows it (without it, a terminal shows the "
            "one waiting call and asks)",
        )
        decide.add_argument(
            "--digest",
            help="the digest `status` showed with the call: refused if its arguments changed",
        )
        decide.add_argument(
            "--wait",
            type=float,
            metavar="SECONDS",
            help="first wait up to SECONDS for a call to wait for a person (for scripts)",
        )
        if verb == "approve":
            decide.add_argument("--arguments", metavar="JSON", help="run with these arguments")
        else:
            decide.add_argument("--reason", help="told to the model")

    answer = command("answer", cmd_answer, "answer a question the agent asked a person")
    answer.add_argument("id", help="workflow id")
    answer.add_argument(
        "--call", required=True, help="the question's call id, as `status` shows it"
    )
    answer.add_argument(
        "value", help="the answer: JSON, or plain text for a question whose answer is text"
    )
    answer.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="first wait up to SECONDS for the question to be asked (for scripts)",
    )
    interrupt = command(
        "interrupt", cmd_interrupt, "stop a run's turn under way; --message steers it"
    )
    interrupt.add_argument("id", help="workflow id")
    interrupt.add_argument(
        "--message", metavar="TEXT", help="the run goes on with this as the user's next message"
    )

    for name, run_view, help in [
        ("status", cmd_status, "a run's status, usage and pending approvals"),
        ("transcript", cmd_transcript, "every message of a run"),
        ("cancel", cmd_cancel, "cancel a run (its transcript is kept)"),
    ]:
        command(name, run_view, help).add_argument("id", help="workflow id")

    watch = command("watch", cmd_watch, "follow a run's progress until it ends")
    watch.add_argument("id", help="workflow id")
    add_events_option(watch)
    watch.add_argument(
        "--from",
        dest="from_seq",
        type=int,
        default=0,
        metavar="SEQ",
        help="with --events: start at event SEQ (the last one a reader got, plus one)",
    )

    listing = command("list", cmd_list, "recent runs, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only runs with this status")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (20)")

    replaying = command("replay", cmd_replay, "check that a run replays on the current code")
    replaying.add_argument("id", nargs="?", help="workflow id of the run on the server")
    replaying.add_argument("--run-id", help="one run of that workflow (default: the latest)")
    replaying.add_argument(
        "--file", metavar="PATH", help="a history exported as JSON instead of a run"
    )
    replaying.add_argument(
        "--agents",
        metavar="MODULE:ATTR",
        default=os.environ.get("TETHER_AGENTS"),
        help="a registry whose workflows the history may be of (default: TETHER_AGENTS)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "tether",
    default_agent: str | None = None,
    default_pipeline: str | None = None,
) -> int:
    """Run one `tether` command; returns its exit status (0 done, 1 the run did not
    complete, 2 a mistake named in one line on stderr, 130 interrupted, 141 its output
    closed early, as by `| head`).

    Args:
        argv: The arguments; None reads sys.argv.
        prog: The program name in messages (a project's own starter passes its own).
        default_agent: What `run` and `chat` start without --agent (else TETHER_AGENT).
        default_pipeline: What `pipeline` starts without --workflow (else TETHER_PIPELINE).
    """
    parser = build_parser(prog, default_agent=default_agent, default_pipeline=default_pipeline)
    args = parser.parse_args(argv)
    PROG[0] = prog
    if args.command not in ("worker", "health", "model", "web"):  # their own logs keep colours
        sys.stdout, sys.stderr = TerminalSafe(sys.stdout), TerminalSafe(sys.stderr)
    try:
        code: int = asyncio.run(_woken_by_signals(args.run(args)))
        return code
    except (UserError, TemporalUnreachable, ConfigurationError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `tether ... | head`: the reader has all it wanted. Quiet, as `git log | head`
        # is, with the shell's status for it (SIGPIPE); stdout goes nowhere from here,
        # so flushing it at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), STDOUT)
        return 141
