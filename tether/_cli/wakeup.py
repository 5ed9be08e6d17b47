"""Ctrl-C reaches a command at once, whichever of its threads the kernel gives it to."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def signals_wake_the_loop() -> Iterator[None]:
    """While inside, every signal wakes the running event loop.

    Python runs a signal's handler in the main thread, the next time that thread runs
    Python code. The kernel may deliver a terminal's Ctrl-C to any thread of the process
    (the temporalio client's, a prompt's reader); the main thread, idle in the event loop,
    then ran asyncio.run's Ctrl-C handler only once something else woke it: seconds later,
    or never while a prompt waited. A wakeup fd the loop watches wakes it for every
    signal; asyncio sets one only for `loop.add_signal_handler`, which asyncio.run's own
    Ctrl-C handling does not use. Elsewhere than the main thread, or where a wakeup fd is
    set already, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
    else:
        loop.add_reader(reader.fileno(), _drain, reader)
    try:
        yield
    finally:
        if previous == -1:
            signal.set_wakeup_fd(-1)
            loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()


def _drain(reader: socket.socket) -> None:
    # The bytes are signal numbers; the handlers Python runs on waking act on them.
    with contextlib.suppress(BlockingIOError, InterruptedError):
        reader.recv(4096)
