"""The scripted server speaks the chat-completions protocol to the real openai client."""

from __future__ import annotations

import json

import openai
import pytest
from openai import AsyncOpenAI

from tether.testing import ScriptedLLM, call_tools, say


def client(llm: ScriptedLLM) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0)


async def test_scripted_steps_then_exhaustion(llm: ScriptedLLM) -> None:
    llm.enqueue(call_tools(("lookup_order", {"order_id": "A-1"}), ("get_refund_policy", {})))
    llm.enqueue(say("done"))
    c = client(llm)
    messages = [{"role": "user", "content": "hi"}]

    first = await c.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    calls = first.choices[0].message.tool_calls or []
    assert [(t.function.name, json.loads(t.function.arguments)) for t in calls] == [  # type: ignore[union-attr]
        ("lookup_order", {"order_id": "A-1"}),
        ("get_refund_policy", {}),
    ]
    assert len({t.id for t in calls}) == 2
    assert first.choices[0].finish_reason == "tool_calls"

    second = await c.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "done"
    assert second.usage is not None and second.usage.total_tokens > 0

    with pytest.raises(openai.InternalServerError, match="no more replies"):
        await c.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert llm.request_count == 3
    assert llm.requests[0].body["messages"] == messages
