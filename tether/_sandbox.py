"""The workflow sandbox, with `tether` passed through.

Tether's modules do nothing at import that a workflow must not (no I/O, clocks or
randomness), and workflows import them; passing them through keeps the sandbox from
re-importing all of Tether for every run, and lets your workflows `import tether` at the
top of their module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence

from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import (
    RestrictedWorkflowAccessError,
    SandboxedWorkflowRunner,
)

from tether._settings import ConfigurationError

# cryptography too: the `decide` validator verifies signatures with it, and its Rust
# extension imports `cryptography.exceptions` when it raises InvalidSignature; inside the
# sandbox that import re-created the module and aborted the whole worker process.
PASSED_THROUGH = ("tether", "cryptography")
RESTRICTIONS_LOGGER = "temporalio.worker.workflow_sandbox._restrictions"


def passing_tether_through(runner: WorkflowRunner | None = None) -> WorkflowRunner:
    """`runner` (default: the SDK's sandbox) with Tether passed through, if sandboxed."""
    if runner is None:
        runner = SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner, restrictions=runner.restrictions.with_passthrough_modules(*PASSED_THROUGH)
        )
    return runner


def sandbox_refusal(error: BaseException, workflows: Sequence[type]) -> ConfigurationError | None:
    """What to tell the user when a worker could not be built because Temporal's sandbox
    refused a workflow's module (None: `error` is something else).

    The SDK imports each workflow's module again inside the sandbox to validate it, and
    the sandbox refuses what a workflow must not do (clocks, I/O, randomness) even at
    import time: a pipeline written in the module of the agents and tools is refused
    for whatever those do at import.
    """
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, RestrictedWorkflowAccessError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    name = str(error).removeprefix("Failed validating workflow ").strip()
    modules = [w.__module__ for w in workflows if _workflow_type(w) == name]
    module = f" (module {modules[0]})" if modules else ""
    call = cause.qualified_name.removesuffix(".__call__")
    return ConfigurationError(
        f"workflow {name}{module} does what a workflow must not when Temporal's sandbox "
        f"imports its module: it calls {call}. Keep the workflow in a module of its own"
        " that imports only what workflows need, or import that module inside"
        " `with workflow.unsafe.imports_passed_through():`"
    )


@contextlib.contextmanager
def quiet_validation() -> Iterator[None]:
    """While a worker validates its workflows: the sandbox logs each refusal as a warning,
    which `sandbox_refusal` reports in its one line instead."""
    restrictions = logging.getLogger(RESTRICTIONS_LOGGER)
    level = restrictions.level
    restrictions.setLevel(logging.ERROR)
    try:
        yield
    finally:
        restrictions.setLevel(level)


def _workflow_type(cls: type) -> str | None:
    """The workflow type `@workflow.defn` gave `cls` (None: not a workflow class)."""
    definition = getattr(cls, "__temporal_workflow_definition", None)
    name = getattr(definition, "name", None)
    return name if isinstance(name, str) else None
