"""Start inputs that do not validate (workflow code).

The SDK fails the workflow *task*, and retries it forever, when a start argument does
not decode; a workflow that accepts `UncheckedInput` as a fallback fails the run at
once instead, with this error.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from tether.seam import UncheckedInput
    from tether.validation import describe


def invalid_input(model: type[BaseModel], params: UncheckedInput) -> ApplicationError:
    """Why `params` is not a valid `model`, as a non-retryable failure of the run."""
    try:
        model.model_validate(params.model_dump())
    except ValidationError as e:
        problem = f"invalid input: {describe(e, whole='input')}"
    else:
        problem = "invalid input"
    return ApplicationError(problem, type="InvalidInput", non_retryable=True)
