"""The `tether` command line as a function, for a project's own entry scripts.

    from tether.cli import main
    main(prog="starter.py", default_agent="issue-triage")        # python starter.py run ...
    main(["worker", "--agents", "myapp.agents:REGISTRY"], prog="worker.py")

The commands and their options are those of `tether --help`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from tether._cli.main import main as run_command
from tether._process import exit_now


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "tether",
    default_agent: str | None = None,
    default_pipeline: str | None = None,
) -> NoReturn:
    """Run one `tether` command and exit with its status.

    The status is 0 done, 1 the run did not complete, 2 a mistake (one line on
    stderr), 130 interrupted.

    Args:
        argv: The arguments (the command first); None reads sys.argv.
        prog: The program name in messages and advice.
        default_agent: What `run` and `chat` start without --agent (else TETHER_AGENT).
        default_pipeline: What `pipeline` starts without --workflow (else TETHER_PIPELINE).
    """
    exit_now(
        run_command(argv, prog=prog, default_agent=default_agent, default_pipeline=default_pipeline)
    )


__all__ = ["main"]
