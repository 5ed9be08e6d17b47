"""Chat messages and token usage: the data that crosses the workflow/activity seam."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    """One tool call requested by the model."""

    id: str
    name: str
    arguments: str = Field(description="The JSON text exactly as the model sent it.")


class Message(BaseModel):
    """One chat message in OpenAI's chat-completions shape."""

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    truncated: bool = Field(
        default=False,
        description="A reply cut at its length limit (the reply cap or the context).",
    )
    reasoning: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The reasoning items a Responses API model wrote before this reply, "
        "as it gave them (with their encrypted content): sent back with the reply, so "
        "the model keeps its reasoning between calls. Chat completions have none.",
    )

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> Message:
        return cls(role="tool", tool_call_id=tool_call_id, content=content)

    def to_openai(self) -> dict[str, Any]:
        """The message as the chat-completions API expects it."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


class Usage(BaseModel):
    """Token counts, as reported by the provider."""

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )
