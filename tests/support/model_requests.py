"""What the scripted model was asked: each request's run (by its prompt) and turn."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tether.testing import ScriptedLLM


def turns_seen(llm: ScriptedLLM) -> dict[str, Counter[int]]:
    """Requests the scripted model received, by prompt (one run each) and turn."""
    seen: dict[str, Counter[int]] = defaultdict(Counter)
    for request in llm.requests:
        prompt, turn = prompt_and_turn(request.messages)
        seen[prompt][turn] += 1
    return dict(seen)


def prompt_and_turn(messages: list[dict[str, Any]]) -> tuple[str, int]:
    """A model request's user prompt and turn (1 + the assistant messages it carries)."""
    prompt = next(str(m.get("content")) for m in messages if m.get("role") == "user")
    return prompt, 1 + sum(m.get("role") == "assistant" for m in messages)
