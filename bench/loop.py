"""The agent loop, written once for the plain asyncio baseline and the floor workflow.

Pure code (no I/O, no clock): the floor workflow runs it in the sandbox with activity
calls plugged in, the plain baseline with direct calls, so the two cannot drift apart.
Messages are chat-completions dicts, the smallest shape the model server accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]
CallLlm = Callable[[list[Message], int], Awaitable[Message]]
CallTool = Callable[[Message, int], Awaitable[str]]


async def agent_loop(
    instructions: str, prompt: str, max_turns: int, call_llm: CallLlm, call_tool: CallTool
) -> list[Message]:
    """Call the model until it answers without tool calls (or `max_turns` calls were
    made), running each turn's tool calls concurrently; returns the conversation."""
    messages: list[Message] = [
        {"role": "system", "content": instructions},
        {"role": "user", "content": prompt},
    ]
    for turn in range(1, max_turns + 1):
        reply = await call_llm(messages, turn)
        messages.append(reply)
        calls: list[Message] = reply.get("tool_calls") or []
        if not calls:
            break
        results = await asyncio.gather(*(call_tool(call, turn) for call in calls))
        messages.extend(
            {"role": "tool", "tool_call_id": call["id"], "content": result}
            for call, result in zip(calls, results, strict=True)
        )
    return messages


def answer(messages: list[Message]) -> str:
    """The final answer of a finished conversation ('' if it ended on tool calls)."""
    last = messages[-1]
    return str(last.get("content") or "") if last.get("role") == "assistant" else ""
