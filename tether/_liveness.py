"""A worker's liveness, for a supervisor to act on.

A hung worker is worse than a dead one: its open polls keep taking tasks, and each of
them waits out a timeout (10 s for a workflow task, the heartbeat timeout for an
activity) before Temporal gives it to another worker. With TETHER_LIVENESS_FILE set,
`tether worker` rewrites that file (its pid and the time) every few seconds from its
event loop; `tether health` says whether it is fresh, and with `--kill` kills a worker
whose file went stale, so its supervisor (a restart policy) starts a new one. It kills
only the worker that writes that file: the process must have started when the file says
(a pid may be reused) and have TETHER_LIVENESS_FILE set to that file (a file anyone could
write must not name any process to kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

BEAT_SECONDS = 5.0
DEFAULT_MAX_AGE_SECONDS = 30.0


async def beat(path: Path, every: float = BEAT_SECONDS) -> None:
    """Rewrite `path` with this process's pid, its start and the time, forever (a task)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    started = _started(os.getpid())
    while True:
        partial.write_text(f"{os.getpid()} {started} {time.time():.3f}\n")
        os.replace(partial, path)  # a reader never sees half a file
        await asyncio.sleep(every)


def check(path: Path, *, max_age: float, kill: bool) -> tuple[bool, str]:
    """Whether the worker that writes `path` is alive, and one line that says so; with
    `kill`, a stale worker is killed (SIGKILL: a hung process handles nothing else)."""
    try:
        pid_text, started, stamp_text = path.read_text().split()
        pid, stamp = int(pid_text), float(stamp_text)
    except (OSError, ValueError):
        return False, f"no liveness in {path} (is TETHER_LIVENESS_FILE set for the worker?)"
    age = time.time() - stamp
    if age <= max_age:
        return True, f"worker {pid} alive ({age:.1f} s ago)"
    line = f"worker {pid} silent for {age:.0f} s (over {max_age:g} s)"
    if kill:
        if not _writes(pid, started, path):
            return False, f"{line}: not killed, process {pid} is not the worker that writes {path}"
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        line += ": killed"
    return False, line


def _started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot; "" where /proc is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # field 22; the name may hold spaces


def _writes(pid: int, started: str, path: Path) -> bool:
    """Whether process `pid` is the one that started at `started` with
    TETHER_LIVENESS_FILE naming `path` (False if that cannot be read)."""
    if not started or _started(pid) != started:
        return False
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    for entry in environ:
        name, _, value = entry.partition(b"=")
        if name == b"TETHER_LIVENESS_FILE":
            named = Path(os.fsdecode(value))
            if not named.is_absolute():  # the worker's own working directory's
                named = Path(os.readlink(f"/proc/{pid}/cwd")) / named
            return named.resolve() == path.resolve()
    return False
