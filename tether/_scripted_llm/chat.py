"""The chat-completions wire format of the scripted model: a reply step as a completion,
and as the server-sent events of a streamed one."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from tether._scripted_llm.steps import CallTools, Cut, Reply, Say, estimate_tokens

PATH = "/v1/chat/completions"
ARGUMENT_PIECE = 16  # characters of a tool call's arguments per streamed chunk


def completion(
    body: dict[str, Any], step: Reply, number: int, next_call_id: Callable[[], str]
) -> dict[str, Any]:
    """`step` as the completion answering `body` (the server's `number`-th request)."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(step, Say | Cut):
        message["content"] = step.content
        finish = "stop" if isinstance(step, Say) else "length"
    else:
        message["content"] = step.content
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in tool_calls(step, next_call_id)
        ]
        finish = "tool_calls"
    prompt = estimate_tokens(json.dumps(body.get("messages", [])))
    written = estimate_tokens(json.dumps(message))
    return {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": written,
            "total_tokens": prompt + written,
        },
    }


def tool_calls(step: CallTools, next_call_id: Callable[[], str]) -> list[tuple[str, str, str]]:
    """Each call of `step` as (id, name, JSON arguments)."""
    return [
        (
            step.ids[i] if i < len(step.ids) else next_call_id(),
            name,
            args if isinstance(args, str) else json.dumps(args),
        )
        for i, (name, args) in enumerate(step.calls)
    ]


def words(text: str | None) -> list[str]:
    """`text` in the pieces a stream sends it in: a word and the space after it each."""
    return re.findall(r"\S+\s*|\s+", text or "")


def stream_events(completion: dict[str, Any], usage: bool) -> list[bytes]:
    """`completion` as a provider streams it: the role, then a chunk per word of the
    text and per piece of each tool call, the finish reason, the usage if asked for."""
    [choice] = completion["choices"]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": word}) for word in words(message["content"])]
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        head = {"index": i, "id": call["id"], "type": "function"}
        chunks.append(
            chunk(
                {"tool_calls": [{**head, "function": {"name": function["name"], "arguments": ""}}]}
            )
        )
        args = function["arguments"]
        for start in range(0, len(args), ARGUMENT_PIECE):
            piece = {"index": i, "function": {"arguments": args[start : start + ARGUMENT_PIECE]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if usage:
        chunks.append({**chunk({}), "choices": [], "usage": completion["usage"]})
    return [b"data: %s\n\n" % json.dumps(c).encode() for c in chunks] + [b"data: [DONE]\n\n"]
