"""An evaluation's progress while it runs: a bar on a terminal, else a line per run."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from tether._cli.common import TerminalSafe, terminal_safe
from tether._evals.model import CaseResult, EvalProgress

BAR = 28
CLEAR_LINE = "\r\033[K"


class ProgressView:
    """Shows each `EvalProgress` a follower gets: on a terminal, one bar redrawn in
    place (with a line above it for each run that did not pass); elsewhere (a log, CI)
    a plain line per run that ended."""

    def __init__(
        self, stream: TextIO | TerminalSafe | None = None, *, tty: bool | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        # Its own control sequences go underneath the CLI's TerminalSafe; the text
        # between them (case and target names) is made safe here.
        self.raw = self.stream.raw if isinstance(self.stream, TerminalSafe) else self.stream
        self.done: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.drawn = False

    def __call__(self, progress: EvalProgress) -> None:
        for result in progress.finished:
            self.done[result.target] += 1
            self.passed[result.target] += result.passed
            if not self.tty:
                self._line(progress, result)
            elif not result.passed:
                self._redraw(f"  ✗ {result.target} · {result.case}: {_why(result)}\n")
        if self.tty:
            self._bar(progress)

    def close(self) -> None:
        """End the bar's line (call once the evaluation ended)."""
        if self.tty and self.drawn:
            self._write("\n")
            self.drawn = False

    def _bar(self, progress: EvalProgress) -> None:
        done = sum(self.done.values())
        filled = BAR * done // max(progress.total, 1)
        per_target = " · ".join(
            f"{t} {self.done[t]} ({self.passed[t]} ✓)" for t in progress.targets
        )
        running = f" · {progress.running} running" if progress.running else ""
        bar = "█" * filled + "░" * (BAR - filled)
        self._redraw(f"{bar} {done}/{progress.total} · {per_target}{running}")
        self.drawn = True

    def _line(self, progress: EvalProgress, result: CaseResult) -> None:
        done = sum(self.done.values())
        mark = "✓" if result.passed else "✗"
        facts = result.facts
        line = (
            f"{done}/{progress.total} {mark} {result.target} · {result.case} · "
            f"{facts.status} · {facts.llm_calls} calls · {facts.seconds:.2f} s"
        )
        if not result.passed:
            line += f" · {_why(result)}"
        self._write(line + "\n")

    def _write(self, text: str) -> None:
        self.raw.write(terminal_safe(text))
        self.raw.flush()

    def _redraw(self, text: str) -> None:
        """`text` over the bar's line: back to its start, cleared, then written."""
        self.raw.write(CLEAR_LINE)
        self._write(text)


def _why(result: CaseResult) -> str:
    if result.facts.failure:
        return result.facts.failure
    failed = [s.evaluator for s in result.scores if s.passed is False]
    return "failed " + ", ".join(failed)
