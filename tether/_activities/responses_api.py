"""The Responses API (`POST /v1/responses`) as the LLM activity's second wire format.

Chosen per model (`LlmPolicy(api="responses")`, `per_model={"NAME": {"api": ...}}`) or for a whole
worker (TETHER_LLM_API=responses). The call keeps the chat path's durability: the
client's retries are off, its errors go through the same classification (Retry-After
honoured), the reply is read as a stream (its text to the run's feed), and a retry is
the same request again: nothing is stored at the provider (`store: false`), so an
attempt that failed half-way leaves nothing a later one depends on. A reasoning model's
reasoning items come back with their encrypted content, ride on the reply's `Message`
(so they are in the run's history, like the rest of the conversation), and go back
with that message in every later call, where the model needs them to go on from its
own reasoning (OpenAI refuses tool results whose reasoning is missing).
"""

from __future__ import annotations

import json
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.responses import Response

from tether._activities.llm_errors import malformed
from tether._activities.streaming import Receiving
from tether._messages import Message, ToolCall, Usage
from tether._records import AgentSpec

# What a stream ends with: the whole response.
ENDINGS = ("response.completed", "response.incomplete")
# Why an incomplete response stopped, as chat completions' finish reasons.
INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


async def responses_call(
    client: AsyncOpenAI,
    model: str,
    spec: AgentSpec,
    messages: list[Message],
    got: Receiving,
    **options: Any,
) -> tuple[Message, Usage, str | None]:
    """One streamed call: the reply, its usage and its finish reason (chat's words)."""
    body: dict[str, Any] = {
        "input": input_items(messages),
        "store": False,
        "include": ["reasoning.encrypted_content"],
        **options,
    }
    if spec.tools:
        body["tools"] = [{"type": "function", **t.openai_schema()["function"]} for t in spec.tools]
    if (cap := spec.llm.reply_cap(model)) is not None:
        body["max_output_tokens"] = cap
    if spec.output is not None and spec.output.native:
        schema = {"name": spec.output.name, "schema": spec.output.json_schema}
        body["text"] = {"format": {"type": "json_schema", **schema}}
    stream = await client.responses.create(model=model, stream=True, **body)
    done: Response | None = None
    async with stream:
        if "text/event-stream" not in stream.response.headers.get("content-type", ""):
            return _capped(parsed(_whole(model, await stream.response.aread()), model), cap)
        async for event in stream:
            got.piece(event.delta if event.type == "response.output_text.delta" else None)
            if event.type in ENDINGS:
                done = event.response
            elif event.type in ("error", "response.failed"):
                raise _broken_off(event, stream.response.request)
    if done is None:
        raise malformed(model, "the stream ended before the response did")
    return _capped(parsed(done, model), cap)


def input_items(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation as Responses input items: each reply's reasoning items first,
    then its text and its function calls; each tool result as a function call output."""
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": m.tool_call_id, "output": m.content}
            )
            continue
        items += m.reasoning
        if m.content is not None or not m.tool_calls:
            items.append({"role": m.role, "content": m.content or ""})
        items += [
            {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
            for c in m.tool_calls
        ]
    return items


def parsed(response: Response, model: str) -> tuple[Message, Usage, str | None]:
    """The reply a response holds; one that failed is raised as the provider's error."""
    if response.status == "failed":
        error = response.error
        raise openai.APIError(
            error.message if error else "the response failed",
            request=None,  # type: ignore[arg-type]
            body={"code": error.code if error else None},
        )
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[dict[str, Any]] = []
    for item in response.output or []:
        if item.type == "message":
            texts += [part.text for part in item.content if part.type == "output_text"]
        elif item.type == "function_call":
            calls.append(
                ToolCall(id=item.call_id, name=item.name, arguments=item.arguments or "{}")
            )
        elif item.type == "reasoning":
            reasoning.append(
                item.model_dump(
                    mode="json",
                    exclude_none=True,
                    include={"type", "id", "summary", "encrypted_content"},
                )
            )
    if not texts and not calls and not reasoning:
        raise malformed(model, "the response has no output")
    finish = "tool_calls" if calls else "stop"
    if response.status == "incomplete":
        details = response.incomplete_details
        finish = INCOMPLETE.get(details.reason if details and details.reason else "", "length")
    message = Message(
        role="assistant",
        content="".join(texts) if texts else None,
        tool_calls=calls,
        reasoning=reasoning,
    )
    # The Responses API's names for the counts chat completions call prompt/completion.
    counts = response.usage.model_dump() if response.usage else {}
    usage = Usage(
        prompt_tokens=counts.get("input_tokens", 0),
        completion_tokens=counts.get("output_tokens", 0),
        total_tokens=counts.get("total_tokens", 0),
    )
    return message, usage, finish


def _capped(
    reply: tuple[Message, Usage, str | None], cap: int | None
) -> tuple[Message, Usage, str | None]:
    """A reply that used its whole cap was cut, whatever its status said: llama.cpp's
    Responses API calls such a response `completed`."""
    message, usage, finish = reply
    if finish == "stop" and cap is not None and usage.completion_tokens >= cap:
        finish = "length"
    return message, usage, finish


def _broken_off(event: Any, request: Any) -> openai.APIError:
    """An error event mid-stream, as the openai client raises one on chat completions
    (classified the same way: a context-length error stops, anything else is retried)."""
    error = event.response.error if event.type == "response.failed" else event
    message = getattr(error, "message", None) or "the response failed"
    return openai.APIError(message, request, body={"code": getattr(error, "code", None)})


def _whole(model: str, body: bytes) -> Response:
    try:
        return Response.construct(**json.loads(body))
    except (ValueError, TypeError) as e:
        raise malformed(model, f"a stream request got neither a stream nor JSON ({e})") from None
