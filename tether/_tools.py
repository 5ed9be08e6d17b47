"""Declaring tools: a typed Python function becomes a tool the model can call.

    @tool(side_effects=True)
    def issue_refund(ctx: ToolContext, order_id: str, reason: str) -> Refund:
        '''Refund an order in full.'''

    @tool(fast=True)
    def search(query: SearchQuery) -> list[Hit]:   # one pydantic model: its fields
        '''Search the catalogue.'''                 # are the tool's parameters

The JSON schema comes from the parameters' types (made strict, see `tether._schema`), the
description from the docstring. A parameter annotated `ToolContext` is injected (never
shown to the model): the idempotency key a side-effecting tool must use so a retry does
not act twice, who the run acts for, the decision that approved the call, a heartbeat.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack, get_type_hints, overload

import pydantic_core
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from tether import _arguments
from tether._records import QuestionSpec, ToolSpec
from tether._run_io import ApprovalDecision
from tether._schema import drop_nulls_for_defaults, strict_schema
from tether._tool_options import ToolOptions, options_record
from tether._validation import describe
from tether._wire import ToolOutcome


class ToolError(Exception):
    """A business error the model should see and may act on ("order A-9 not found").

    Raise it from a tool; any other exception counts as an infrastructure failure and
    the activity is retried by Temporal.
    """


def _no_heartbeat(*details: Any) -> None:
    """Outside an activity (e.g. a unit test) progress goes nowhere."""


@dataclass(frozen=True)
class ToolContext:
    """Injected into tools that declare a parameter of this type. Everything here comes
    from the run and its starter, never from the model.

    Attributes:
        idempotency_key: Same on every retry and replay of this call, and no other
            call's (it names the run: namespace, workflow id, first run id, turn, call
            id). Side-effecting tools store it under a unique constraint (or pass it to
            the API they call), with `arguments_digest` beside it.
        arguments_digest: Digest of this call's arguments. A key found again with
            another digest is not a retry of this call: refuse it (raise ToolError),
            never answer with the stored effect.
        acting_for: Who the run acts for (`AgentInput.acting_for`, set by whoever
            started it), e.g. a customer id: check ownership against it. None when the
            starter named nobody.
        approval: The person's decision that let this call run (its `approver` and
            `reason`), for tools that need approval; record it with the side effect.
        attempt: 1 on the first try, 2 on the first retry, ...
        heartbeat: Report progress from a long tool, e.g. `ctx.heartbeat({"page": 3})`.
            The activity heartbeats on its own while a tool runs; this only sets the
            details it sends. Callable from threads (sync tools) too.
    """

    idempotency_key: str
    workflow_id: str
    tool_call_id: str
    attempt: int = 1
    heartbeat: Callable[..., None] = field(default=_no_heartbeat)
    arguments_digest: str = ""
    acting_for: str | None = None
    approval: ApprovalDecision | None = None


class Tool:
    """A function plus what the model and the workflow need to know about it.

    Args:
        fn: A typed function, or one taking a single pydantic model, optionally with a
            `ToolContext` parameter. Sync functions run in a thread, async ones on the
            worker's event loop.
        name: Tool name shown to the model; defaults to the function's name.
        description: Overrides the docstring.
        side_effects: The tool changes the world; it must use `ToolContext.idempotency_key`.
        needs_approval: A person must approve each call (the `decide` update, e.g.
            `tether approve`) before it runs; a rejection or the agent's
            `approval_timeout` is told to the model as the call's result. Its
            parameters are checked before a person is asked, so a schema keyword that
            check does not enforce (a `set`, `multiple_of`, a tuple: see the approvals
            guide) is refused here.
        approval_policy: Rules that decide its calls (`tether.approvals.ApprovalPolicy`).
        fast: Read-only, short and idempotent: runs as a local activity in the worker that
            runs the workflow, saving a server round trip. Cannot have side effects or
            need approval, and does not heartbeat.
        timeout: How long one attempt may take (default 60 s).
        heartbeat_timeout: How long the worker may go silent before Temporal retries
            the attempt elsewhere; also bounds how late a cancellation arrives. Defaults
            to the workflow's (10 s).
        retry: How infrastructure failures are retried (Temporal's `RetryPolicy`;
            default: 10 attempts, 1 s doubling to 30 s, about 2.5 minutes; once they run
            out, the model is told the tool is unavailable and the run goes on). Bad
            arguments and `ToolError`s are never retried.
        max_result_bytes: Longer results (UTF-8) are truncated with a note to the model;
            defaults to the agent's limit.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        **options: Unpack[ToolOptions],
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn)
        self.description = description or (doc.strip() if doc else "")
        if not self.description:
            raise ValueError(
                f"tool {self.name!r} has no description: give it a docstring or description="
            )
        recorded = options_record(f"tool {self.name!r}", options)
        self._context_param, self._model_param, self._args_model = _arguments_model(fn, self.name)
        self.spec = ToolSpec(
            name=self.name,
            description=self.description,
            parameters=strict_schema(self._args_model.model_json_schema()),
            **recorded.model_dump(exclude_unset=True),
        )
        if self.spec.gated and (found := _arguments.unchecked(self.spec.parameters)):
            raise ValueError(
                f"tool {self.name!r} needs approval, but its parameters use "
                f"{', '.join(sorted(found))}, which the check before a person is asked does "
                "not enforce (a person could approve a call the tool then refuses): express "
                "the rule in the tool, e.g. as a ToolError"
            )

    @property
    def max_result_bytes(self) -> int | None:
        return self.spec.max_result_bytes

    def builtin(
        self,
        kind: Literal["wait", "subagent", "ask_person"],
        *,
        agent: str | None = None,
        question: QuestionSpec | None = None,
    ) -> Tool:
        """This tool, run by the workflow itself (Tether's `WAIT`, `subagent` and
        `ask_person`)."""
        update: dict[str, Any] = {"builtin": kind, "agent": agent}
        if question is not None:
            update["question"] = question
        self.spec = self.spec.model_copy(update=update)
        return self

    def openai_schema(self) -> dict[str, Any]:
        """The tool as a chat-completions `tools` entry, with strict arguments."""
        return self.spec.openai_schema()

    def parse(self, arguments: str) -> BaseModel | ToolOutcome:
        """The model's arguments validated, or an explained `ToolOutcome` for the model."""
        try:
            raw = _arguments.loads(arguments)
        except json.JSONDecodeError as e:
            return malformed_arguments(self.name, e)
        except _arguments.ArgumentsError as e:
            return invalid_arguments(self.name, str(e))
        try:
            return self._args_model.model_validate(drop_nulls_for_defaults(self._args_model, raw))
        except ValidationError as e:
            return invalid_arguments(self.name, describe(e, whole="arguments"))

    async def invoke(self, arguments: str, ctx: ToolContext) -> ToolOutcome:
        """Validate the model's arguments, run the tool and render its result.

        Bad arguments and `ToolError`s become an explained `ToolOutcome`; anything else
        propagates so Temporal retries it.
        """
        args = self.parse(arguments)
        if isinstance(args, ToolOutcome):
            return args
        if self._model_param:
            kwargs: dict[str, Any] = {self._model_param: args}
        else:
            kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        if self._context_param:
            kwargs[self._context_param] = ctx
        try:
            if inspect.iscoroutinefunction(self.fn):
                result = await self.fn(**kwargs)
            else:
                result = await _in_thread(self.fn, kwargs)
        except ToolError as e:
            return ToolOutcome(error="tool_error", content=f"Error: {e}")
        return ToolOutcome(content=_render(result))


class ToolDeclaration(ToolOptions, total=False):
    """The keyword arguments of `@tool(...)`: a name and description, and the options."""

    name: str
    description: str


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(**options: Unpack[ToolDeclaration]) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None, /, **options: Unpack[ToolDeclaration]
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Declare a tool. Usable bare (`@tool`) or with options (`@tool(side_effects=True)`);
    the options are `Tool`'s.

    Returns:
        The `Tool`, to list in an `Agent(tools=[...])`.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(f, **options)

    return wrap(fn) if fn is not None else wrap


def unknown_tool(name: str, known: list[str]) -> ToolOutcome:
    """The answer to a call of a tool the agent does not have."""
    return ToolOutcome(
        error="unknown_tool",
        content=f"Error: there is no tool named {name!r}. Available tools: {', '.join(known)}.",
    )


def malformed_arguments(tool: str, error: json.JSONDecodeError) -> ToolOutcome:
    """The answer to arguments that are not JSON."""
    return ToolOutcome(
        error="malformed_arguments",
        content=f"Error: the arguments for {tool} are not valid JSON ({error}). "
        "Send a JSON object matching the tool's schema.",
    )


def invalid_arguments(tool: str, problems: str) -> ToolOutcome:
    """The answer to arguments that do not match the tool's schema."""
    return ToolOutcome(
        error="invalid_arguments", content=f"Error: invalid arguments for {tool}: {problems}"
    )


def truncate(content: str, max_bytes: int) -> str:
    """`content` cut to `max_bytes` of UTF-8, with a note telling the model it was cut."""
    data = content.encode()
    if len(data) <= max_bytes:
        return content
    shown = data[:max_bytes].decode(errors="ignore")  # never split a character
    return (
        f"{shown}\n\n[Truncated: this result was {len(data):,} bytes and only the first "
        f"{max_bytes:,} are shown. If you need the rest, ask for less at a time.]"
    )


async def _in_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run a sync tool (e.g. sqlite3) off the worker's event loop.

    A thread cannot be interrupted: on cancellation, wait for it to finish before
    re-raising, so a cancelled activity (and a run, which waits for its tools' cancellation)
    ends only once the tool has really stopped.
    """
    work = asyncio.ensure_future(asyncio.to_thread(fn, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


def _arguments_model(
    fn: Callable[..., Any], tool_name: str
) -> tuple[str | None, str | None, type[BaseModel]]:
    """The context parameter, the single-model parameter (if the tool takes one pydantic
    model) and the pydantic model of the arguments the model sends."""
    # With their extras: `Annotated[int, Field(le=100)]` keeps its bounds.
    hints = get_type_hints(fn, include_extras=True)
    context_param: str | None = None
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name)
        if annotation is ToolContext:
            context_param = param.name
            continue
        if annotation is None:
            raise TypeError(f"tool {tool_name!r}: parameter {param.name!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    if len(fields) == 1:
        (param_name, (annotation, _)), *_ = fields.items()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A subclass that forbids extra keys, as the strict schema promises the model.
            strict = type(
                f"{tool_name}_arguments",
                (annotation,),
                {"model_config": ConfigDict(extra="forbid"), "__module__": annotation.__module__},
            )
            return context_param, param_name, strict
    model = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return context_param, None, model


def _render(result: Any) -> str:
    if isinstance(result, str):
        return result
    return pydantic_core.to_json(result).decode()
