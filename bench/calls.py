"""One model call and one tool call, as the plain baseline and the floor's activities
make them: the real `openai` client over HTTP and the agent's own tool functions."""

from __future__ import annotations

from openai import AsyncOpenAI

from bench.loop import Message
from tether import Agent, ToolContext
from tether.testing import OFFLINE_MODEL


def model_client(base_url: str) -> AsyncOpenAI:
    # No client retries, as in Tether's LLM activity, so every mode makes the same calls.
    return AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)


async def complete(client: AsyncOpenAI, agent: Agent, messages: list[Message]) -> Message:
    """The model's next message for the conversation, as a chat-completions dict."""
    completion = await client.chat.completions.create(
        model=OFFLINE_MODEL,
        messages=messages,  # type: ignore[arg-type]
        tools=[t.openai_schema() for t in agent.tools],  # type: ignore[misc]
    )
    message = completion.choices[0].message
    reply: Message = {"role": "assistant", "content": message.content}
    calls = [c for c in message.tool_calls or [] if c.type == "function"]
    if calls:
        reply["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for c in calls
        ]
    return reply


async def run_tool(agent: Agent, name: str, arguments: str, key: str) -> str:
    """Run one of the agent's tools with the model's arguments, validated as in Tether."""
    tool = agent.tool(name)
    if tool is None:
        return f"unknown tool {name}"
    outcome = await tool.invoke(
        arguments, ToolContext(idempotency_key=key, workflow_id="", tool_call_id=key)
    )
    return outcome.content
