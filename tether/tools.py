"""Declaring tools: a typed Python function becomes a tool the model can call.

    @tool(side_effects=True)
    def issue_refund(ctx: ToolContext, order_id: str, reason: str) -> Refund:
        '''Refund an order in full.'''

The JSON schema comes from the parameters' types, the description from the docstring.
A parameter annotated `ToolContext` is injected (never shown to the model): it carries
the idempotency key a side-effecting tool must use so a retry does not act twice.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints, overload

import pydantic_core
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from tether.seam import ToolOutcome, ToolSpec


class ToolError(Exception):
    """A business error the model should see and may act on ("order A-9 not found").

    Raise it from a tool; any other exception counts as an infrastructure failure and
    the activity is retried by Temporal.
    """


@dataclass(frozen=True)
class ToolContext:
    """Injected into tools that declare a parameter of this type."""

    idempotency_key: str
    workflow_id: str
    tool_call_id: str


class Tool:
    """A function plus what the model and the workflow need to know about it."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        side_effects: bool = False,
        timeout_seconds: float = 60.0,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"tool {fn.__name__!r}: timeout_seconds must be positive")
        self.fn = fn
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn)
        self.description = description or (doc.strip() if doc else "")
        if not self.description:
            raise ValueError(
                f"tool {self.name!r} has no description: give it a docstring or description="
            )
        self.spec = ToolSpec(
            name=self.name, side_effects=side_effects, timeout_seconds=timeout_seconds
        )
        self._context_param, self._args_model = _arguments_model(fn, self.name)

    def openai_schema(self) -> dict[str, Any]:
        """The tool as a chat-completions `tools` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self._args_model.model_json_schema(),
            },
        }

    async def invoke(self, arguments: str, ctx: ToolContext) -> ToolOutcome:
        """Validate the model's arguments, run the tool and render its result.

        Bad arguments and `ToolError`s become an explained `ToolOutcome`; anything else
        propagates so Temporal retries it.
        """
        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError as e:
            return ToolOutcome(
                error="malformed_arguments",
                content=f"Error: the arguments for {self.name} are not valid JSON ({e}). "
                "Send a JSON object matching the tool's schema.",
            )
        try:
            args = self._args_model.model_validate(raw)
        except ValidationError as e:
            return ToolOutcome(
                error="invalid_arguments",
                content=f"Error: invalid arguments for {self.name}: {_describe(e)}",
            )
        kwargs = {field: getattr(args, field) for field in type(args).model_fields}
        if self._context_param:
            kwargs[self._context_param] = ctx
        try:
            if inspect.iscoroutinefunction(self.fn):
                result = await self.fn(**kwargs)
            else:
                # Sync tools (e.g. sqlite3) must not block the worker's event loop.
                result = await asyncio.to_thread(self.fn, **kwargs)
        except ToolError as e:
            return ToolOutcome(error="tool_error", content=f"Error: {e}")
        return ToolOutcome(content=_render(result))


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    timeout_seconds: float = 60.0,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    timeout_seconds: float = 60.0,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Declare a tool. Usable bare (`@tool`) or with options (`@tool(side_effects=True)`).

    Args:
        name: Tool name shown to the model; defaults to the function's name.
        description: Overrides the docstring.
        side_effects: The tool changes the world; it must use `ToolContext.idempotency_key`.
        timeout_seconds: Start-to-close timeout of one attempt.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(
            f,
            name=name,
            description=description,
            side_effects=side_effects,
            timeout_seconds=timeout_seconds,
        )

    return wrap(fn) if fn is not None else wrap


def _arguments_model(fn: Callable[..., Any], tool_name: str) -> tuple[str | None, type[BaseModel]]:
    """Build the pydantic model of a tool's arguments from its signature."""
    hints = get_type_hints(fn)
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
    model = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return context_param, model


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _render(result: Any) -> str:
    if isinstance(result, str):
        return result
    return pydantic_core.to_json(result).decode()
