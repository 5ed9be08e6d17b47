"""Process exit for the CLI entry points.

The Temporal SDK's Rust core keeps threads that may call into Python while the
interpreter finalizes; measured here, `starter.py run` then aborted ("PyGILState_Release:
thread state must be current") after printing its answer in 2 runs of 20. Once a
command's work is done and its output flushed there is nothing left to finalize, so
the entry points leave with os._exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe must not turn a good exit into a bad one.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
