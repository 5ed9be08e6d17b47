"""Reading a line from the person at the terminal, interruptible."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any


async def read_line(prompt: str) -> str:
    """`input(prompt)` that Ctrl-C interrupts at once. Read in an executor thread, the
    interpreter waited at exit for that thread, that is for one more Enter; this thread
    is a daemon, left behind.

    Raises:
        EOFError: at the end of the input.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            line = input(prompt)
        except BaseException as e:  # EOFError, or the input closed under it
            _call_soon(loop, _settle, answer, None, e)
        else:
            _call_soon(loop, _settle, answer, line, None)

    threading.Thread(target=read, daemon=True).start()
    return await answer


def _call_soon(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[asyncio.Future[str], str | None, BaseException | None], None],
    *args: Any,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(settle, *args)


def _settle(answer: asyncio.Future[str], line: str | None, error: BaseException | None) -> None:
    if answer.done():
        return  # cancelled meanwhile (Ctrl-C)
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(line or "")
