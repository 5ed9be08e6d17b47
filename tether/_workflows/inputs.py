"""Start inputs, checked by the workflow itself (workflow code).

A workflow whose `run` takes typed parameters cannot fail a run over a bad input: the
SDK fails the workflow *task* when the arguments do not decode (`"hello"` for a model),
do not match in number (none, or two), and retries that task forever, so the run wedges.
Tether's workflows take `*args` (decoded as plain JSON, which any JSON input is) and
check them here: a bad input fails the run at once, saying what was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from tether._records import ANY_MODEL
from tether._validation import describe

if TYPE_CHECKING:
    from tether._records import AgentSpec
    from tether._run_io import AgentInput

M = TypeVar("M", bound=BaseModel)


def parsed_input(model: type[M], args: Sequence[Any]) -> M | ApplicationError:
    """The start arguments as one valid `model`, or the error to fail the run with."""
    if len(args) != 1:
        return invalid_input(f"expected one {model.__name__} object, got {len(args)} arguments")
    [arg] = args
    if isinstance(arg, model):
        return arg
    try:
        return model.model_validate(arg)
    except ValidationError as e:
        return invalid_input(describe(e, whole="input"))


def checked_input(model: type[M], args: Sequence[Any]) -> M:
    """The start arguments of your workflow's `run(self, *args: Any)` as one valid
    `model`; anything else fails the run at once (a non-retryable `InvalidInput`).

    Raises:
        ApplicationError: the input is not one valid `model`.
    """
    parsed = parsed_input(model, args)
    if isinstance(parsed, ApplicationError):
        raise parsed
    return parsed


def invalid_input(problem: str) -> ApplicationError:
    """The error that fails a run over its input (non-retryable `InvalidInput`)."""
    return ApplicationError(f"invalid input: {problem}", type="InvalidInput", non_retryable=True)


def check_model(spec: AgentSpec, params: AgentInput) -> None:
    """Refuse a first start that asks for a model the agent does not allow.

    Raises:
        ApplicationError: ``InvalidInput``, naming the models the agent allows.
    """
    if spec.models is None or ANY_MODEL in spec.models:
        return
    if params.model is None or params.carried is not None:
        return  # a continued run's model is the one its conversation moved to
    allowed = [spec.model, *spec.llm.fallback_models, *spec.models]
    if params.model not in allowed:
        raise invalid_input(
            f"agent {spec.name!r} does not run model {params.model!r} "
            f"(allowed: {', '.join(dict.fromkeys(allowed))})"
        )
