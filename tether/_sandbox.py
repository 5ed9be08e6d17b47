"""The workflow sandbox, with `tether` passed through.

Tether's modules do nothing at import that a workflow must not (no I/O, clocks or
randomness), and workflows import them; passing them through keeps the sandbox from
re-importing all of Tether for every run, and lets your workflows `import tether` at the
top of their module.
"""

from __future__ import annotations

import dataclasses

from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

# cryptography too: the `decide` validator verifies signatures with it, and its Rust
# extension imports `cryptography.exceptions` when it raises InvalidSignature; inside the
# sandbox that import re-created the module and aborted the whole worker process.
PASSED_THROUGH = ("tether", "cryptography")


def passing_tether_through(runner: WorkflowRunner | None = None) -> WorkflowRunner:
    """`runner` (default: the SDK's sandbox) with Tether passed through, if sandboxed."""
    if runner is None:
        runner = SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner, restrictions=runner.restrictions.with_passthrough_modules(*PASSED_THROUGH)
        )
    return runner
