"""Tether's processes in tests: `tether worker` and the `tether` CLI (and the demo's
worker.py and starter.py) as real subprocesses against a test's server, and servers of
a test's own."""

from __future__ import annotations

import asyncio
import atexit
import codecs
import ctypes
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from temporalio.api.enums.v1 import DescribeTaskQueueMode, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support.ledger import CUSTOMER
from tests.support.waiting import first
from tether import Signer
from tether._process import stop
from tether._temporal import TETHER_CONVERTER
from tether.testing import OFFLINE_MODEL, SIGNER, ScriptedLLM, binary

ROOT = Path(__file__).resolve().parents[2]
# The CLI as installed (the tests' programs), and the demo's own starter.
TETHER = [str(Path(sys.executable).parent / "tether")]
STARTER = [sys.executable, str(ROOT / "starter.py")]
# The order desk's module, for `tether worker --agents` and `--offline`.
ORDER_DESK = "tests.support.order_desk"


def free_port() -> int:
    """A loopback port free right now, for servers that must be told their port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def target(env: WorkflowEnvironment) -> str:
    """The address of a test server, for a process's TEMPORAL_ADDRESS."""
    return env.client.service_client.config.target_host


def process_env(
    temporal_address: str, task_queue: str, ledger: Path, **extra: str
) -> dict[str, str]:
    """The environment of a `tether` process serving or driving the order desk (its runs
    act for CUSTOMER, its pipeline is OrderRefundFlow), writing to `ledger`: the offline
    model unless `extra` names one (`model_env`)."""
    return tether_env(
        temporal_address,
        task_queue,
        ORDER_DESK_DB=str(ledger),
        TETHER_AGENTS=f"{ORDER_DESK}:REGISTRY",
        TETHER_AGENT="order-desk",
        TETHER_PIPELINE="OrderRefundFlow",
        TETHER_ACTING_FOR=CUSTOMER,
        **extra,
    )


def demo_env(temporal_address: str, task_queue: str, shop: Path, **extra: str) -> dict[str, str]:
    """The environment of the demo's worker.py and starter.py, with its shop in `shop`
    (their runs act for Ada Lovelace, who owns the seeded orders)."""
    return tether_env(
        temporal_address, task_queue, TETHER_SHOP_DB=str(shop), TETHER_ACTING_FOR="C-1", **extra
    )


def tether_env(temporal_address: str, task_queue: str, **extra: str) -> dict[str, str]:
    """The environment of any Tether process of a test: its server and queue, JSON logs,
    the tests' signing keys, and no model or server of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TETHER_TASK_QUEUE=task_queue,
        TETHER_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
        **signing_env(),
        **extra,
    )
    return env


@functools.cache
def signing_env() -> dict[str, str]:
    """A starter's signing key and a worker's allowed signers, which trust that key and
    the one the test's own process signs with (`tether.testing.SIGNER`), for any name."""
    keys = Path(tempfile.mkdtemp(prefix="tether-test-keys-"))
    atexit.register(shutil.rmtree, keys, ignore_errors=True)
    starter_key = Signer.generate(keys / "approver.key")
    allowed = keys / "approver-keys"
    allowed.write_text(f"* {SIGNER.public_key}\n* {starter_key.public_key}\n")
    return {"TETHER_SIGNING_KEY": str(keys / "approver.key"), "TETHER_APPROVER_KEYS": str(allowed)}


def model_env(llm: ScriptedLLM) -> dict[str, str]:
    """The variables that point a worker process at a scripted model of the test's own."""
    return {
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "sk-test",
        "TETHER_MODEL": OFFLINE_MODEL,
    }


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tether worker` for the agents of `env` (the order desk's, see `process_env`), with
    the desk's offline scripts unless `env` names a model; stopped (SIGTERM) at the end."""
    with running(worker_command(env), env, log) as proc:
        yield proc


def worker_command(env: dict[str, str]) -> list[str]:
    """`tether worker`, with the order desk's offline scripts unless `env` names a model."""
    offline = [] if env.get("OPENAI_BASE_URL") else ["--offline", f"{ORDER_DESK}:SCRIPTS"]
    return [*TETHER, "worker", *offline]


@contextmanager
def demo_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The demo's worker.py, logging to `log`; stopped (SIGTERM) at the end."""
    with running([sys.executable, str(ROOT / "worker.py")], env, log) as proc:
        yield proc


@contextmanager
def tether_worker(
    env: dict[str, str], log: Path, agents: str, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`tether worker --agents AGENTS [EXTRA...]`, run from the repository (so `tests.`
    modules import), logging to `log`; stopped (SIGTERM) at the end."""
    command = [*TETHER, "worker", "--agents", agents, *extra]
    with running(command, env, log) as proc:
        yield proc


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        stop(proc)


class DevServer:
    """`temporal server start-dev` of a test's own, on a free loopback port, keeping its
    state in a SQLite file: it can be stopped and started again with its runs.

    Use it as a context manager, which starts it and stops it at the end.
    """

    def __init__(self, db: Path, log: Path, *extra: str) -> None:
        self._db = db
        self._log = log
        self._extra = list(extra)  # more `start-dev` flags
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [
            binary("temporal"), "server", "start-dev", "--headless", "--log-level", "warn",
            "--ip", "127.0.0.1", "--port", str(self.port), "--db-filename", str(self._db),
            *self._extra,
        ]  # fmt: skip
        with self._log.open("ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    async def client(self, seconds: float = 30) -> Client:
        """A client, once the server answers."""
        deadline = time.monotonic() + seconds
        while True:
            assert self._proc is not None and self._proc.poll() is None, "the server exited"
            try:
                return await Client.connect(self.address, data_converter=TETHER_CONVERTER)
            except RuntimeError:
                assert time.monotonic() < deadline, f"no Temporal server on {self.address}"
                await asyncio.sleep(0.1)

    def __enter__(self) -> DevServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli_command(*args: str, program: Sequence[str] = TETHER) -> list[str]:
    return [*program, *args]


def cli(
    env: dict[str, str],
    *args: str,
    timeout: float = 60,
    stdin: str | int = "",
    program: Sequence[str] = TETHER,
) -> subprocess.CompletedProcess[str]:
    """The `tether` CLI (or another `program`) with `args`, reading `stdin`: text through
    a pipe, or a file descriptor (a pseudo-terminal's, to be asked questions)."""
    return subprocess.run(
        cli_command(*args, program=program),
        env=env,
        input=stdin if isinstance(stdin, str) else None,
        stdin=stdin if isinstance(stdin, int) else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def starter(
    env: dict[str, str], *args: str, timeout: float = 60, stdin: str | int = ""
) -> subprocess.CompletedProcess[str]:
    """The demo's starter.py with `args` (see `cli`)."""
    return cli(env, *args, timeout=timeout, stdin=stdin, program=STARTER)


async def cli_in_background(
    env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`cli` without blocking the event loop, so several can run at once (and an
    in-process worker keeps working meanwhile). It runs in a thread rather than through
    asyncio's subprocesses: on Python 3.12.1 their child watcher missed an exit now and
    then (the pipes at EOF, the wait for the exit status never answered)."""
    return await asyncio.to_thread(cli, env, *args, stdin=stdin)


async def wait_for_pollers(
    client: Client, queue: str, workers: Sequence[subprocess.Popen[bytes]], within: float = 120
) -> None:
    """Until every worker polls for workflow and activity tasks, so all share the load."""
    deadline = time.monotonic() + within
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        while not {str(w.pid) for w in workers} <= (polling := await _pollers(client, queue, kind)):
            assert all(w.poll() is None for w in workers), "a worker exited while starting"
            assert time.monotonic() < deadline, f"workers {polling} poll {queue}, not all"
            await asyncio.sleep(0.2)


async def _pollers(client: Client, queue: str, kind: TaskQueueType.ValueType) -> set[str]:
    """The pids of the workers seen polling `queue` for `kind` tasks. The plain describe
    sees the root partition only, where an idle worker's polls may not arrive for the
    minute a long poll lasts; the enhanced one sees every partition, some seconds late."""
    name = TaskQueue(name=queue)
    plain = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=name, task_queue_type=kind)
    )
    enhanced = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=name,
            api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
            task_queue_types=[kind],
            report_pollers=True,
        )
    )
    pollers = list(plain.pollers)
    for version in enhanced.versions_info.values():
        for info in version.types_info.values():
            pollers += info.pollers
    return {p.identity.split("@")[0] for p in pollers}


class Spawned:
    """The `tether` CLI in the background, its output collected as it comes: for commands
    that wait (`watch`, `send`, a prompt), which a test reads, answers or interrupts
    meanwhile."""

    def __init__(self, env: dict[str, str], *args: str, stdin: int | None = None) -> None:
        self.proc = subprocess.Popen(
            cli_command(*args),
            env=env,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=_collect, args=(stream, into), daemon=True)
            for stream, into in ((self.proc.stdout, self._out), (self.proc.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    async def wait_for(self, text: str, seconds: float = 30) -> None:
        """Until `text` is in its stdout or stderr (it fails if the process ends first)."""
        deadline = time.monotonic() + seconds
        while text not in self.stdout + self.stderr:
            assert self.proc.poll() is None or any(r.is_alive() for r in self._readers), (
                f"exited ({self.proc.returncode}) without {text!r}:\n{self.stdout}{self.stderr}"
            )
            assert time.monotonic() < deadline, (
                f"no {text!r} in {seconds} s:\n{self.stdout}{self.stderr}"
            )
            await asyncio.sleep(0.1)

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it."""
        self.proc.send_signal(signal.SIGINT)

    def interrupt_another_thread(self) -> None:
        """Ctrl-C as the kernel may hand a terminal's to the process: to a thread other
        than its main one (one running Python, as a prompt's reader does; Linux)."""
        pid = self.proc.pid
        main = Path(f"/proc/{pid}/comm").read_text()
        others = [
            int(t.name)
            for t in Path(f"/proc/{pid}/task").iterdir()
            if int(t.name) != pid and (t / "comm").read_text() == main
        ]
        assert others, f"process {pid} runs no Python thread besides its main one"
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.tgkill(pid, others[0], signal.SIGINT) != 0:
            raise OSError(ctypes.get_errno(), f"tgkill({pid}, {others[0]}, SIGINT)")

    async def finish(self, seconds: float = 30) -> subprocess.CompletedProcess[str]:
        """Its exit status and output, once it has exited (within `seconds`)."""
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(
                    f"still running after {seconds} s:\n{self.stdout}{self.stderr}"
                )
            await asyncio.sleep(0.1)
        for reader in self._readers:
            reader.join(timeout=5)
        return subprocess.CompletedProcess(
            self.proc.args, self.proc.returncode, self.stdout, self.stderr
        )


def _collect(stream: IO[bytes] | None, into: list[str]) -> None:
    """Chunks as they come, not lines: a prompt ends without a newline."""
    assert stream is not None
    decoder = codecs.getincrementaldecoder("utf-8")()
    while chunk := os.read(stream.fileno(), 4096):
        into.append(decoder.decode(chunk))


def call_in(text: str) -> str:
    """The call id of the first `approve ID --call CALL_ID` command `text` shows (a
    status, a chat's notice): without a terminal, `approve` needs one."""
    found = re.search(r" approve \S+ --call (\S+)", text)
    assert found, text
    return found[1]


async def cli_until(
    env: dict[str, str], args: list[str], text: str, *, program: Sequence[str] = TETHER
) -> str:
    """The CLI's output for `args` once it shows `text` (visibility and state trail a bit)."""

    async def ran() -> subprocess.CompletedProcess[str]:
        return cli(env, *args, program=program)

    done = await first(
        ran,
        lambda done: done.returncode == 0 and text in done.stdout,
        f"{' '.join(args)} never showed {text!r}",
        within=60,
        every=0.2,
    )
    return done.stdout
