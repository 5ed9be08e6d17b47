"""A model's reply checked before the workflow sees it: any body a provider sends ends as
a reply the workflow can always handle, or as a classified MalformedResponse.

The openai client builds a completion without validating it, so a field may hold any
JSON value (a choice without a `message`, a number for `content`). Everything the
workflow code later reads is checked here; what comes through is bounded: call ids are
unique within the message and short (they name child runs and idempotency keys), tool
names short, and the reply small enough for Temporal's payload limit (cut, with a note
saying so, unless the worker keeps large payloads in a store).
"""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletion

from tether._activities.llm_errors import malformed
from tether._limits import PAYLOAD_BUDGET_BYTES
from tether._messages import Message, ToolCall
from tether._wire import LlmReply

# Above any real count, below what a search attribute (int64) holds summed over a run.
MAX_TOKENS_PER_CALL = 10**9
# A message with more calls than this is not a plan but a broken reply.
MAX_TOOL_CALLS = 64
MAX_CALL_ID_CHARS = 64
MAX_TOOL_NAME_CHARS = 128
# What a reply may take of a payload when it must fit one: the next model call's input
# carries it together with the turn's tool results.
REPLY_BUDGET_BYTES = PAYLOAD_BUDGET_BYTES // 4


def check_shape(completion: object, model: str) -> ChatCompletion:
    """`completion`, if it has what `_parse` reads; else MalformedResponse (retried): a
    first choice with a message whose content is text or null, tool calls with string
    ids, names and arguments, token counts that are counts; and some text or a call."""
    if not isinstance(completion, ChatCompletion):
        raise malformed(model, f"expected a chat completion, got {type(completion).__name__}")
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise malformed(model, "no choices")
    message = getattr(choices[0], "message", None)
    if message is None or isinstance(message, str | int | float | list | dict):
        raise malformed(model, "the first choice has no message")
    content = getattr(message, "content", None)
    if content is not None and not isinstance(content, str):
        raise malformed(model, f"the message's content is a {type(content).__name__}, not text")
    calls = getattr(message, "tool_calls", None) or []
    if not isinstance(calls, list) or len(calls) > MAX_TOOL_CALLS:
        raise malformed(model, f"tool_calls is not a list of at most {MAX_TOOL_CALLS} calls")
    for call in calls:
        _check_call(call, model)
    if not content and not any(getattr(c, "type", None) == "function" for c in calls):
        raise malformed(model, "an empty reply: neither text nor a tool call")
    usage = getattr(completion, "usage", None)
    if usage is not None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            count = getattr(usage, name, 0)
            if type(count) is not int or not 0 <= count <= MAX_TOKENS_PER_CALL:
                raise malformed(model, f"usage.{name} is not a token count")
    return completion


def _check_call(call: Any, model: str) -> None:
    function = getattr(call, "function", None)
    fields = {
        "id": getattr(call, "id", None),
        "function.name": getattr(function, "name", None),
        "function.arguments": getattr(function, "arguments", None) or "",
    }
    for name, value in fields.items():
        if not isinstance(value, str):
            raise malformed(model, f"a tool call's {name} is not text")


def normalized(message: Message) -> Message:
    """`message` with call ids unique and short (a provider's duplicates, empty or long
    ids are renamed), and tool names cut short (such a name is unknown anyway)."""
    seen: set[str] = set()
    calls = []
    for i, call in enumerate(message.tool_calls):
        call_id = call.id
        if not call_id or len(call_id) > MAX_CALL_ID_CHARS or call_id in seen:
            call_id = f"call_{i}_renamed"
        seen.add(call_id)
        name = call.name[:MAX_TOOL_NAME_CHARS]
        if (call_id, name) != (call.id, call.name):
            call = ToolCall(id=call_id, name=name, arguments=call.arguments)
        calls.append(call)
    if calls == message.tool_calls:
        return message
    return message.model_copy(update={"tool_calls": calls})


def fitted(reply: LlmReply, *, stored: bool) -> LlmReply:
    """`reply`, its text and arguments cut to REPLY_BUDGET_BYTES with a note, unless it
    fits or large payloads go to a store (`stored`)."""
    size = len(reply.model_dump_json())
    if stored or size <= REPLY_BUDGET_BYTES:
        return reply
    message = reply.message
    share = max(1, REPLY_BUDGET_BYTES // (1 + len(message.tool_calls)) - 1024)
    content = None if message.content is None else _cut(message.content, share, size)
    calls = [
        c.model_copy(update={"arguments": _cut(c.arguments, share, size, note=False)})
        for c in message.tool_calls
    ]
    cut = message.model_copy(update={"content": content, "tool_calls": calls})
    return reply.model_copy(update={"message": cut, "output": None})


def _cut(text: str, limit: int, size: int, *, note: bool = True) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    # A third of the budget for the text: JSON may escape a character to six bytes.
    shown = data[: limit // 3].decode(errors="ignore")
    if not note:
        return shown  # cut arguments are no longer JSON: the tool says so to the model
    return (
        f"{shown}\n\n[Cut: the model's reply was {size:,} bytes, over what a run's history "
        "holds in one event; only its start is kept. Set TETHER_PAYLOAD_STORE to keep "
        "replies whole.]"
    )
