"""The Responses API wire format of the scripted model (`POST /v1/responses`).

A request's input items become chat-shaped messages for the scripts (which are written
once, for both formats); a reply step becomes a response object, or its server-sent
events. Reasoning is played as OpenAI's reasoning models play it without stored state
(`store: false`): a step's `reasoning` comes back as a reasoning item with encrypted
content (when the request includes `reasoning.encrypted_content`), and a later request
that replays the function calls of that reply without the reasoning item they followed,
as it was issued, is refused with a 400, as OpenAI refuses it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether._scripted_llm.chat import ARGUMENT_PIECE, tool_calls, words
from tether._scripted_llm.steps import CallTools, Cut, Reply, Say, estimate_tokens

PATH = "/v1/responses"
ENCRYPTED = "reasoning.encrypted_content"


@dataclass
class Issued:
    """The reasoning items the server gave out, and which function call followed which."""

    encrypted: dict[str, str] = field(default_factory=dict)  # reasoning id -> content
    required_by: dict[str, str] = field(default_factory=dict)  # call id -> reasoning id


def as_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's input as chat messages: what a script reads, whatever the format."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    for item in items if isinstance(items, list) else []:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _text(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant" or "tool_calls" not in last:
                last = {"role": "assistant", "content": None, "tool_calls": []}
                messages.append(last)
            last["tool_calls"].append(call)
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
    return messages


def refusal(body: dict[str, Any], issued: Issued) -> str | None:
    """Why OpenAI would refuse the input's reasoning (None: it would not): a function
    call replayed without the reasoning item it followed, or that item without the
    encrypted content it was issued with (nothing is stored with `store: false`)."""
    found = body.get("input")
    items: list[dict[str, Any]] = found if isinstance(found, list) else []
    given = {i.get("id"): i for i in items if i.get("type") == "reasoning"}
    for item in items:
        if item.get("type") != "function_call":
            continue
        needed = issued.required_by.get(str(item.get("call_id")))
        if needed is None:
            continue
        if needed not in given:
            return (
                f"Item '{item.get('id') or item.get('call_id')}' of type 'function_call' was "
                f"provided without its required 'reasoning' item: '{needed}'."
            )
        if given[needed].get("encrypted_content") != issued.encrypted[needed]:
            return (
                f"Item with id '{needed}' not found. Items are not persisted when `store` is "
                "set to false. Try again with `store` set to true, or remove this item from "
                "your input."
            )
    return None


def response(
    body: dict[str, Any],
    step: Reply,
    number: int,
    next_call_id: Callable[[], str],
    issued: Issued,
) -> dict[str, Any]:
    """`step` as the response answering `body` (the server's `number`-th request)."""
    output: list[dict[str, Any]] = []
    reasoning = step.reasoning if isinstance(step, Say | CallTools) else None
    reasoning_id = f"rs_scripted_{number}"
    if reasoning is not None:
        item: dict[str, Any] = {
            "type": "reasoning",
            "id": reasoning_id,
            "summary": [{"type": "summary_text", "text": reasoning}],
        }
        content = f"enc:{number}:{len(reasoning)}"
        issued.encrypted[reasoning_id] = content
        if ENCRYPTED in (body.get("include") or []):
            item["encrypted_content"] = content
        output.append(item)
    if step.content is not None:
        output.append(
            {
                "type": "message",
                "id": f"msg_scripted_{number}",
                "role": "assistant",
                "status": "completed" if not isinstance(step, Cut) else "incomplete",
                "content": [{"type": "output_text", "text": step.content, "annotations": []}],
            }
        )
    if isinstance(step, CallTools):
        for i, (call_id, name, args) in enumerate(tool_calls(step, next_call_id)):
            if reasoning is not None:
                issued.required_by[call_id] = reasoning_id
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_scripted_{number}_{i}",
                    "call_id": call_id,
                    "name": name,
                    "arguments": args,
                    "status": "completed",
                }
            )
    prompt = estimate_tokens(json.dumps(body.get("input", [])))
    written = estimate_tokens(json.dumps(output))
    cut = isinstance(step, Cut)
    return {
        "id": f"resp_scripted_{number}",
        "object": "response",
        "created_at": int(time.time()),
        "model": body.get("model", ""),
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "error": None,
        "instructions": None,
        "metadata": {},
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "temperature": None,
        "top_p": None,
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": written,
            "output_tokens_details": {"reasoning_tokens": estimate_tokens(reasoning or "")},
            "total_tokens": prompt + written,
        },
    }


def stream_events(done: dict[str, Any]) -> list[bytes]:
    """`done` (a response) as OpenAI streams it: created, each output item with its text
    or arguments in pieces, then completed (or incomplete, for a cut reply)."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    emit("response.created", response={**done, "status": "in_progress", "output": []})
    for index, item in enumerate(done["output"]):
        emit("response.output_item.added", output_index=index, item=_opened(item))
        where = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            for piece in words(text):
                emit("response.output_text.delta", content_index=0, delta=piece, **where)
            emit("response.output_text.done", content_index=0, text=text, **where)
        elif item["type"] == "function_call":
            args = item["arguments"]
            for start in range(0, len(args), ARGUMENT_PIECE):
                piece = args[start : start + ARGUMENT_PIECE]
                emit("response.function_call_arguments.delta", delta=piece, **where)
            emit("response.function_call_arguments.done", arguments=args, **where)
        emit("response.output_item.done", output_index=index, item=item)
    last = "response.incomplete" if done["status"] == "incomplete" else "response.completed"
    emit(last, response=done)
    return [
        b"event: %s\ndata: %s\n\n" % (e["type"].encode(), json.dumps(e).encode()) for e in events
    ]


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as its `added` event shows it: before its text or arguments."""
    if item["type"] == "message":
        return {**item, "status": "in_progress", "content": []}
    if item["type"] == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return item


def _text(content: object) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)
