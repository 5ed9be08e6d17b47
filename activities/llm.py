"""One LLM call = one activity.

The openai client's own retries are off: Temporal owns retries, so every attempt is
visible in the run's history.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tether.agents import AgentRegistry
from tether.messages import Message, ToolCall, Usage
from tether.seam import LLM_ACTIVITY, LlmReply, LlmRequest
from tether.settings import LlmSettings


def make_client(settings: LlmSettings) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key, max_retries=0)


class LlmActivities:
    def __init__(self, agents: AgentRegistry, client: AsyncOpenAI) -> None:
        self._agents = agents
        self._client = client

    @activity.defn(name=LLM_ACTIVITY)
    async def call_llm(self, request: LlmRequest) -> LlmReply:
        """Send the conversation and the agent's tool schemas; return one message."""
        tools = [t.openai_schema() for t in self._agents.get(request.agent).tools]
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        completion = await self._client.chat.completions.create(
            model=request.model,
            messages=[m.to_openai() for m in request.messages],  # type: ignore[misc]
            **extra,
        )
        if not completion.choices:
            raise ApplicationError(f"{request.model} returned no choices", type="EmptyCompletion")
        choice = completion.choices[0]
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in choice.message.tool_calls or []
            if c.type == "function"
        ]
        usage = completion.usage
        return LlmReply(
            message=Message(role="assistant", content=choice.message.content, tool_calls=calls),
            usage=Usage(
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                total_tokens=usage.total_tokens if usage else 0,
            ),
            finish_reason=choice.finish_reason,
        )
