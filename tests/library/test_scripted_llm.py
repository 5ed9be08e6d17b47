"""The scripted server speaks the chat-completions protocol to the real openai client."""

from __future__ import annotations

import json
import threading
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tether._scripted_llm.steps import PROBE_HEADER
from tether.testing import CallTools, Cut, ScriptedLLM, Streamed, call_tools, say


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


async def test_a_cut_reply_finishes_with_length(llm: ScriptedLLM) -> None:
    llm.enqueue(Cut("Once upon a"))
    reply = await client(llm).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "a story"}],
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == "Once upon a"


async def test_the_responses_api_plays_the_same_script(llm: ScriptedLLM) -> None:
    """One script, both wire formats: tool calls (after a reasoning item), then text."""
    llm.enqueue(
        CallTools((("lookup_order", {"order_id": "A-1"}),), reasoning="look it up first"),
        say("It shipped."),
    )
    c = client(llm)
    first = await c.responses.create(
        model="m", input="Where is A-1?", store=False, include=["reasoning.encrypted_content"]
    )
    reasoning, call = first.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    assert call.type == "function_call" and json.loads(call.arguments) == {"order_id": "A-1"}
    given: list[Any] = [
        {"role": "user", "content": "Where is A-1?"},
        reasoning.model_dump(exclude_none=True),
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "shipped"},
    ]
    second = await c.responses.create(model="m", input=given, store=False)
    assert second.output_text == "It shipped." and second.status == "completed"
    # The script saw the conversation as chat messages.
    assert [m["role"] for m in llm.requests[1].messages] == ["user", "assistant", "tool"]
    assert llm.requests[1].api == "responses"


async def test_tool_calls_replayed_without_their_reasoning_are_refused(llm: ScriptedLLM) -> None:
    llm.enqueue(CallTools((("lookup_order", {}),), reasoning="think"), say("unused"))
    c = client(llm)
    first = await c.responses.create(
        model="m", input="hi", store=False, include=["reasoning.encrypted_content"]
    )
    call = first.output[1]
    assert call.type == "function_call"
    without: list[Any] = [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": "{}"},
        {"type": "function_call_output", "call_id": call.call_id, "output": "ok"},
    ]
    with pytest.raises(openai.BadRequestError, match="without its required 'reasoning' item"):
        await c.responses.create(model="m", input=without, store=False)


async def test_a_streamed_response_ends_with_the_whole_response(llm: ScriptedLLM) -> None:
    llm.enqueue(Cut("Once upon a time"))
    c = client(llm)
    stream = await c.responses.create(model="m", input="a story", stream=True)
    kinds, text = [], ""
    async for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
    assert text == "Once upon a time"
    assert kinds[0] == "response.created" and kinds[-1] == "response.incomplete"


async def test_a_client_that_leaves_mid_stream_is_no_error_the_server_prints(
    capfd: pytest.CaptureFixture[str],
) -> None:
    resume = threading.Event()
    with ScriptedLLM(slots=1) as llm:
        words = " ".join(f"word{i}" for i in range(50))
        llm.enqueue(Streamed(say(words), delay=0.01, pause_after=1, resume=resume), say("next"))
        c = client(llm)
        messages: Any = [{"role": "user", "content": "hi"}]
        stream = await c.chat.completions.create(model="m", messages=messages, stream=True)
        async for _ in stream:
            break
        await stream.close()  # as a cancelled call or an interrupt leaves
        resume.set()
        # One slot: the next request is answered once the first one's handler is done.
        after = await c.with_options(timeout=30).chat.completions.create(
            model="m", messages=messages
        )
    assert after.choices[0].message.content == "next"
    assert "Traceback" not in capfd.readouterr().err


async def test_the_tool_probe_is_answered_apart_from_the_script() -> None:
    probe: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "call it"}],
        "tools": [{"type": "function", "function": {"name": "tether_probe", "parameters": {}}}],
    }
    for drops, called in [(False, True), (True, False)]:
        with ScriptedLLM(drops_tools=drops) as llm:
            c = client(llm)
            reply = await c.chat.completions.create(**probe, extra_headers={PROBE_HEADER: "tools"})
            assert bool(reply.choices[0].message.tool_calls) is called
            assert (llm.request_count, len(llm.probes)) == (0, 1)
            # The script's calls are numbered as if no probe had come.
            llm.enqueue(call_tools(("lookup", {})))
            scripted = await c.chat.completions.create(**probe)
            assert [t.id for t in scripted.choices[0].message.tool_calls or []] == ["call_0001"]
