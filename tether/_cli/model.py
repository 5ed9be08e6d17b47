"""`model serve`: the bundled local model (SmolLM2-135M on llama.cpp's OpenAI-compatible
server, `tether[llamacpp]`), in the foreground or the background.

The server runs in a child process that logs to a file (llama.cpp's log is long). In the
foreground the command serves until Ctrl-C or SIGTERM, under nohup too; with
`--background` it returns once the server listens, saying how to stop it. Either way it
prints where the server listens and the worker settings that suit it: one model slot
(`--slots`), so TETHER_MAX_CONCURRENT_LLM_CALLS to match, and a reply cap.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from tether._cli.common import UserError
from tether._llamacpp import CONTEXT_TOKENS, MODEL_ALIAS, address, missing, model_path
from tether._process import stop

DEFAULT_LOG = Path(".tether") / "model.log"


def add_model_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help = "the bundled local model (llama.cpp serving SmolLM2-135M)"
    model = commands.add_parser("model", help=help, description=help)
    actions = model.add_subparsers(dest="action", required=True)
    help = "serve it over the OpenAI API until Ctrl-C (or --background)"
    serve = actions.add_parser("serve", help=help, description=help)
    serve.set_defaults(run=cmd_model_serve)
    serve.add_argument("gguf", nargs="?", help="a GGUF model file (default: the bundled one)")
    serve.add_argument("--port", type=int, default=8080, help="%(default)s; 0 for a free one")
    serve.add_argument("--host", default="127.0.0.1", help="%(default)s")
    serve.add_argument("--slots", type=int, default=1, help="requests served at once (1)")
    serve.add_argument(
        "--context", type=int, default=CONTEXT_TOKENS, help="tokens per slot (%(default)s)"
    )
    serve.add_argument("--log", type=Path, default=DEFAULT_LOG, help="%(default)s")
    serve.add_argument(
        "--background", action="store_true", help="return once it listens; it serves on"
    )


async def cmd_model_serve(args: argparse.Namespace) -> int:
    # Blocking on purpose: this command only starts a process and waits for it.
    return serve_model(args)


def serve_model(args: argparse.Namespace) -> int:
    if args.gguf is None and (why := missing()) is not None:
        raise UserError(f"cannot serve the bundled model: {why}")
    if args.gguf is not None and not Path(args.gguf).is_file():
        raise UserError(f"no GGUF file at {args.gguf}")
    if args.slots < 1 or args.context < 128:
        raise UserError("--slots must be at least 1 and --context at least 128")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "tether._llamacpp", args.gguf or str(model_path()),
        "--port", str(args.port), "--host", args.host,
        "--slots", str(args.slots), "--context", str(args.context),
    ]  # fmt: skip
    with args.log.open("wb") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=args.background,  # not stopped with this terminal's job
        )
    try:
        url = address(child, args.log)
    except RuntimeError as e:
        stop(child)
        print(f"tether: the model server did not start: {e}", file=sys.stderr)
        return 1
    if args.background:
        print(ready(url, args, child.pid), flush=True)
        return 0
    return _serve_until_stopped(child, ready(url, args, child.pid))


def ready(url: str, args: argparse.Namespace, pid: int) -> str:
    """Where it listens, how a worker uses it, and how to stop it."""
    stopping = f"stop it with: kill {pid}" if args.background else "Ctrl-C stops it"
    return (
        f"serving {MODEL_ALIAS} at {url}/v1 ({args.slots} slot(s); log {args.log}); {stopping}\n"
        f"a worker for it: OPENAI_BASE_URL={url}/v1 TETHER_MODEL={MODEL_ALIAS} "
        f"TETHER_MAX_CONCURRENT_LLM_CALLS={args.slots} tether worker --agents MODULE:ATTR\n"
        "and cap its replies: Agent(..., llm=LlmPolicy(max_tokens=256))"
    )


def _serve_until_stopped(child: subprocess.Popen[bytes], announce: str) -> int:
    """Say where it serves, then wait for the server; Ctrl-C or SIGTERM stops it (and
    then this command). The handlers come first: a Ctrl-C as soon as the address is
    printed went to asyncio's handler, whose cancel a blocked wait never sees."""

    def stopping(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Both in this thread's handlers: asyncio's own SIGINT handler would only cancel a
    # task, and this command waits outside the event loop.
    signal.signal(signal.SIGINT, stopping)
    signal.signal(signal.SIGTERM, stopping)
    try:
        print(announce, flush=True)
        code = child.wait()
    except KeyboardInterrupt:
        stop(child)
        return 0
    print(f"tether: the model server stopped (exit status {code})", file=sys.stderr)
    return 1
