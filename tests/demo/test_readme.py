"""The README's walkthrough, as a new user runs it: every `console` block's `$` command,
in order (the README's, then the documentation pages' in the site's order), in a fresh
copy of the repository, printing what the page shows.

The copy holds the repository's files as they are (what a clone of this commit holds)
and borrows this checkout's `.venv`, so `dev.py` installs nothing; its dev server (the
demo starts it) gets free ports through TEMPORAL_ADDRESS and TETHER_UI_URL, as the README
says. The demo runs on a terminal (a pseudo-terminal, answering `y`), the rest from
pipes. What the README shows is matched line by line: `…` alone on a line stands for any
lines, `…` within a line for any text; random ids, run ids, times, the free ports and
who decided an approval (login@host) are read as the README's.
"""

from __future__ import annotations

import getpass
import os
import pty
import re
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.doc_blocks import pages
from tests.support.processes import free_port
from tether._process import stop

ROOT = Path(__file__).resolve().parents[2]
# The README and every page of the site, in the order a reader meets them: the demo's
# walkthrough starts in the README and goes on in docs/getting-started/demo.md.
PAGES = pages()
ELLIPSIS = "…"
REPORT = ROOT / ".tether" / "artifacts" / "readme-walkthrough.txt"
COMMAND_SECONDS = 180
# A person reads a run a few seconds after starting it; a script, at once.
SETTLE_SECONDS = 20
# What differs from run to run, and how the README writes it.
VARYING = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "RUN-ID"),
    (re.compile(r"\b01[0-9a-f]{2}[0-9a-f-]*…"), "RUN-ID"),  # the README's, cut short
    (re.compile(r"\b(support-desk|RefundPipelineWorkflow)-[0-9a-f]{8}\b"), r"\1-ID"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?"), "DATE TIME"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\b"), "DATE"),
    (re.compile(r"\(\d+ events\)"), "(N events)"),
]


@dataclass
class Example:
    """One `$` command of the README and the output it shows (None: shows none)."""

    command: str
    shown: list[str] | None


def examples(readme: str) -> list[Example]:
    found = []
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *shown = chunk.rstrip("\n").split("\n")
            found.append(Example(command, shown or None))
    return found


def normalized(text: str, ports: dict[str, str]) -> str:
    for actual, shown in ports.items():
        text = text.replace(actual, shown)
    for pattern, shown in VARYING:
        text = pattern.sub(shown, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def shows(expected: list[str], actual: str) -> bool:
    """Whether `actual` is what the README's lines show (see the module docstring)."""
    pattern = ""
    for line in normalized("\n".join(expected), {}).split("\n"):
        if line.strip() == ELLIPSIS:
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.rstrip().split(ELLIPSIS))
            pattern += r"\n"
    return re.fullmatch(pattern, actual + "\n") is not None


def reads(command: str) -> bool:
    """A command that only reads (what it shows may trail the run by a moment)."""
    return any(f"starter.py {verb} " in command for verb in ("status", "list", "transcript"))


def run_example(example: Example, home: Path, env: dict[str, str]) -> str:
    """Run one command as a shell would, output and errors in the order written; the
    demo on a terminal that answers `y`."""
    if "dev.py demo" in example.command:
        ours, terminal = pty.openpty()
        os.write(ours, b"y\n")  # waits in the terminal's line buffer for the prompt
        try:
            done = subprocess.run(
                ["bash", "-c", example.command], cwd=home, env=env, stdin=terminal,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_SECONDS,
            )  # fmt: skip
        finally:
            os.close(ours)
            os.close(terminal)
        # The terminal would show the answer after its prompt; the pipe has only the prompt.
        out = done.stdout.decode().replace("[y/N] ", "[y/N] y\n")
    else:
        done = subprocess.run(
            ["bash", "-c", example.command], cwd=home, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_SECONDS,
        )  # fmt: skip
        out = done.stdout.decode()
    assert done.returncode == 0, f"$ {example.command}\n{out}"
    return out


def until_polling(worker: subprocess.Popen[bytes], home: Path, env: dict[str, str]) -> None:
    """Until the worker started in the background polls the dev server (by its pid: the
    server lists the demo's stopped worker too, for minutes)."""
    deadline = time.monotonic() + 60
    check = [".venv/bin/temporal", "task-queue", "describe", "--task-queue", "tether", "-o", "json"]
    while (
        f'"{worker.pid}@'
        not in subprocess.run(check, cwd=home, env=env, capture_output=True, text=True).stdout
    ):
        assert worker.poll() is None, "the README's worker exited"
        assert time.monotonic() < deadline, "the README's worker never polled"
        time.sleep(0.3)


def test_the_readme_walkthrough_prints_what_it_shows(clone: Path) -> None:
    grpc, ui = free_port(), free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_", "TETHER_"))
    }
    env.update(
        TEMPORAL_ADDRESS=f"localhost:{grpc}",
        TETHER_UI_URL=f"http://localhost:{ui}",
        PYTHONUNBUFFERED="1",
    )
    ports = {
        f"localhost:{ui}": "localhost:8233",
        f"127.0.0.1:{grpc}": "127.0.0.1:7233",
        # Who decided, mid-line (`approve`) or at a line's end (`watch`).
        f"by {getpass.getuser()}@{socket.gethostname()}": "by ada@laptop",
    }
    background: list[subprocess.Popen[bytes]] = []
    wrong: list[str] = []
    printed: list[str] = []  # every example's output, for the report
    try:
        walkthrough = "".join((clone / p.relative_to(ROOT)).read_text() for p in PAGES)
        for example in examples(walkthrough):
            command = example.command.split("  #")[0].strip()
            if command.endswith("&"):
                words = shlex.split(command[:-1])
                with (clone / f"{Path(words[-1]).stem}.log").open("wb") as log:
                    worker = subprocess.Popen(words, cwd=clone, env=env, stdout=log, stderr=log)
                background.append(worker)
                until_polling(worker, clone, env)
                continue
            out = normalized(run_example(example, clone, env), ports)
            deadline = time.monotonic() + SETTLE_SECONDS
            while example.shown and not shows(example.shown, out) and reads(command):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # a run a moment behind the reader: ask again
                out = normalized(run_example(example, clone, env), ports)
            printed.append(f"$ {example.command}\n{out}")
            if example.shown is not None and not shows(example.shown, out):
                wrong.append(
                    f"$ {example.command}\n--- README shows:\n"
                    + "\n".join(example.shown)
                    + f"\n--- printed:\n{out}"
                )
    finally:
        for proc in background:
            stop(proc)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text("\n\n".join(printed))
    assert not wrong, f"{len(wrong)} examples print otherwise (all of it in {REPORT}):\n{wrong[0]}"
