"""Datasets in pydantic-evals' format, and the evaluators they name.

A dataset is a YAML or JSON file a team keeps in its repository, as pydantic-evals
reads it (`Dataset.from_file`): `cases` with a `name`, `inputs`, an optional
`expected_output` and `metadata`, and `evaluators` for every case or for one. A case's
`inputs` is the prompt, or a mapping with `prompt` (or `text`) and `acting_for`; its
`metadata.approvals` (`approve` or `reject`) says how its calls that wait for a person
are answered. Evaluators are pydantic-evals' own (`EqualsExpected`, `Contains`,
`IsInstance`, `MaxDuration`; `LLMJudge` is asked through Tether's LLM activity) and the
project's: `Evaluator` subclasses, or functions marked with `tether.evals.evaluator`,
in the module `--evaluators` names.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from tether._agents import load_target
from tether._evals.model import ApprovalRecord, Approvals, EvalCase, ToolEffect
from tether._messages import Message
from tether._settings import ConfigurationError

if TYPE_CHECKING:
    from pydantic_evals import Dataset
    from pydantic_evals.evaluators import Evaluator, EvaluatorContext

EXTRA = "pip install 'tether-agents[evals]'"
# The attribute `evaluator` sets on a function: the Evaluator class made for it.
MARK = "__tether_evaluator__"
APPROVALS: tuple[Approvals, ...] = ("approve", "reject")


def require_pydantic_evals() -> None:
    """Refuse, in one line naming the extra, when pydantic-evals is not installed."""
    try:
        import pydantic_evals  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"evaluations read datasets with pydantic-evals: {EXTRA}"
        ) from None


@dataclass(frozen=True)
class CaseRun:
    """One run of a case, as an evaluator function sees it.

    Attributes:
        case: The case's name.
        inputs: The case's `inputs`, as the dataset gives them.
        expected_output: The case's `expected_output` (None if it has none).
        metadata: The case's `metadata` (empty if it has none).
        target: The agent or workflow that ran it.
        output: The run's answer: an agent's text (or its structured output), a
            workflow's result.
        status: How it ended: an agent's status, a pipeline's outcome, `failed`.
        transcript: The conversation, message by message (an agent's; a pipeline's
            LLM steps).
        tool_calls: What its tools did: each call that ran as an activity, with its
            arguments and answer.
        approvals: The decisions on its calls that waited for a person.
        seconds: Its wall time.
    """

    case: str
    inputs: Any
    expected_output: Any
    metadata: dict[str, Any]
    target: str
    output: Any
    status: str
    transcript: list[Message]
    tool_calls: list[ToolEffect]
    approvals: list[ApprovalRecord]
    seconds: float

    def called(self, tool: str) -> list[ToolEffect]:
        """The calls of `tool` that ran without an error."""
        return [c for c in self.tool_calls if c.name == tool and c.error is None]


def evaluator(fn: Callable[[CaseRun], Any]) -> Callable[[CaseRun], Any]:
    """Mark `fn(run: CaseRun)` as an evaluator a dataset names by the function's name.

    It returns a bool (an assertion), a number (a score), a string (a label), a
    pydantic-evals `EvaluationReason`, or a dict of those (one result per key).

    Args:
        fn: The function; it may be `async`.

    Returns:
        `fn` itself, marked (call it in your own tests as before).

    Raises:
        ConfigurationError: pydantic-evals is not installed (the `evals` extra).
    """
    require_pydantic_evals()
    from pydantic_evals.evaluators import Evaluator

    def evaluate(self: Any, ctx: EvaluatorContext[Any, Any, Any]) -> Any:
        return fn(case_run(ctx))

    name = fn.__name__
    kind = dataclasses.make_dataclass(
        name, [], bases=(Evaluator,), namespace={"evaluate": evaluate}
    )
    kind.get_serialization_name = classmethod(lambda cls: name)  # type: ignore[attr-defined]
    setattr(fn, MARK, kind)
    return fn


def case_run(ctx: EvaluatorContext[Any, Any, Any]) -> CaseRun:
    """The `CaseRun` behind a pydantic-evals context that Tether made (an `Evaluator`
    subclass reads the transcript and tool calls through it)."""
    run = ctx.attributes.get("tether_run")
    if not isinstance(run, CaseRun):
        raise TypeError("this context was not made by a Tether evaluation")
    return run


def evaluator_types(module: str | None) -> list[type[Evaluator[Any, Any, Any]]]:
    """The evaluators `module` defines: its `Evaluator` dataclasses and the functions
    marked with `evaluator`."""
    if module is None:
        return []
    from pydantic_evals.evaluators import Evaluator

    # Imported as `tether worker --agents` imports: installed packages, then the
    # working directory.
    load_target(f"{module}:__name__", option="--evaluators")
    loaded: ModuleType = sys.modules[module]
    found: list[type[Evaluator[Any, Any, Any]]] = []
    for value in vars(loaded).values():
        marked = getattr(value, MARK, None)
        if marked is not None:
            found.append(marked)
        elif (
            inspect.isclass(value)
            and issubclass(value, Evaluator)
            and value is not Evaluator
            and dataclasses.is_dataclass(value)
            and value.__module__ == loaded.__name__
        ):
            found.append(value)
    return found


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset as read: its text (which an evaluation records), the pydantic-evals
    `Dataset` with its evaluators, and its cases as the evaluation runs them."""

    name: str
    text: str
    format: Literal["yaml", "json"]
    dataset: Dataset[Any, Any, Any]
    cases: list[EvalCase]


def read_dataset(path: str | Path) -> tuple[str, Literal["yaml", "json"]]:
    """The text of a dataset file and its format (by its suffix)."""
    where = Path(path)
    fmt: Literal["yaml", "json"] = "json" if where.suffix.lower() == ".json" else "yaml"
    if where.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ConfigurationError(f"a dataset is a .yaml or .json file, not {where}")
    try:
        return where.read_text(encoding="utf-8"), fmt
    except OSError as e:
        raise ConfigurationError(f"cannot read dataset {where}: {e.strerror}") from None


def parse_dataset(
    text: str,
    fmt: Literal["yaml", "json"],
    *,
    name: str,
    evaluators: Sequence[type[Evaluator[Any, Any, Any]]] = (),
    approvals: Approvals = "approve",
) -> LoadedDataset:
    """A dataset from its text; `approvals` answers the calls of cases that state no
    policy of their own."""
    require_pydantic_evals()
    from pydantic_evals import Dataset

    try:
        dataset = Dataset[Any, Any, Any].from_text(
            text, fmt=fmt, custom_evaluator_types=evaluators, default_name=name
        )
    except (ValueError, ExceptionGroup) as e:
        first = e.exceptions[0] if isinstance(e, ExceptionGroup) else e
        raise ConfigurationError(f"dataset {name}: {str(first).splitlines()[0]}") from None
    cases = [
        _case(case.name or f"case-{i + 1}", case.inputs, case.metadata, approvals)
        for i, case in enumerate(dataset.cases)
    ]
    if not cases:
        raise ConfigurationError(f"dataset {name} has no cases")
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"dataset {name}: two cases have the same name")
    return LoadedDataset(
        name=dataset.name or name, text=text, format=fmt, dataset=dataset, cases=cases
    )


def _case(name: str, inputs: Any, metadata: Any, default: Approvals) -> EvalCase:
    acting_for = None
    if isinstance(inputs, dict):
        prompt = inputs.get("prompt", inputs.get("text"))
        acting_for = inputs.get("acting_for")
    else:
        prompt = inputs
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError(
            f"case {name}: inputs is the prompt, or a mapping with `prompt` (and `acting_for`)"
        )
    policy = metadata.get("approvals", default) if isinstance(metadata, dict) else default
    if policy not in APPROVALS:
        raise ConfigurationError(f"case {name}: metadata.approvals is approve or reject")
    return EvalCase(name=name, prompt=prompt, acting_for=acting_for, approvals=policy)
