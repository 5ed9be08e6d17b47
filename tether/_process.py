"""Process exit for the CLI entry points.

The Temporal SDK's Rust core keeps threads that may call into Python while the
interpreter finalizes, which can abort a command after it printed its answer
("PyGILState_Release: thread state must be current"). Once a command's work is done and
its output flushed there is nothing left to finalize, so the entry points leave with
os._exit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe must not turn a good exit into a bad one.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, which lets the process finish cleanly; SIGKILL if it takes over 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Lend stdout to stderr while a child process starts: the Temporal dev server prints
    a banner to the stdout it inherits, and a report on stdout must stay parseable."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
