"""Whether the worker's model server passes an agent's tools to its model.

Some servers drop them without an error: llama.cpp leaves the tools out of the prompt
when the model's chat template has none (the bundled SmolLM2's has none), and the model
answers as if there were no tools. From one reply that calls no tool nothing can be
told, so the worker asks, once per model and wire format: a probe request that offers
one tool and requires a call of it (`tool_choice: required`). A server that answers it
with text drops tools. `tether worker` asks as it starts, for its agents' models, and
logs one line for each; any worker asks on the first reply to an agent with tools that
called none, and marks such replies (`LlmReply.tools_dropped`).

The probe carries an `X-Tether-Probe` header: the scripted model answers it itself
(`ScriptedLLM(drops_tools=True)` plays a server that drops them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, Literal

import openai
from openai import AsyncOpenAI

from tether._logs import get_logger
from tether._scripted_llm.steps import PROBE_HEADER
from tether._settings import Api

# What the worker learnt of its model server, not a step of the call that asked.
log = get_logger("tether.model_server")

Verdict = Literal["passes", "drops", "unknown"]
PROBE_TOOL = "tether_probe"
PROBE_PROMPT = f"Call the function {PROBE_TOOL} now."
# As long as a model call may be silent (LlmPolicy.stall_timeout): the probe is
# not streamed, and a slow local model writes its whole reply first.
PROBE_TIMEOUT_SECONDS = 120.0
# Enough for a call, or for a few words instead of one; a reasoning model may spend them
# all thinking, and a reply with neither tells nothing (unknown), not that tools are
# dropped.
PROBE_TOKENS = 64
# A probe that could not tell (an error, a cut reply) is asked again after this long.
ASK_AGAIN_SECONDS = 300.0


class ToolSupport:
    """The verdict for each (model, wire format), asked once (concurrent callers share
    the one probe)."""

    def __init__(self) -> None:
        self._asked: dict[tuple[str, Api], tuple[float, asyncio.Task[Verdict]]] = {}

    async def drops(self, client: AsyncOpenAI, model: str, api: Api) -> bool:
        """Whether the server behind `client` drops tools for `model`."""
        now = time.monotonic()
        asked = self._asked.get((model, api))
        if asked is not None and asked[1].done() and asked[1].result() == "unknown":
            asked = None if now - asked[0] > ASK_AGAIN_SECONDS else asked
        if asked is None:
            asked = self._asked[(model, api)] = (
                now,
                asyncio.create_task(_probe(client, model, api)),
            )
        # Shielded: a cancelled call must not cancel the probe other calls wait for.
        return await asyncio.shield(asked[1]) == "drops"

    async def check(self, client: AsyncOpenAI, models: Iterable[tuple[str, Api]]) -> None:
        """Ask for each of `models` (as a worker starts): each verdict is logged."""
        await asyncio.gather(*(self.drops(client, model, api) for model, api in set(models)))


async def _probe(client: AsyncOpenAI, model: str, api: Api) -> Verdict:
    try:
        called, text = await (_responses if api == "responses" else _chat)(client, model)
    except openai.APIError as e:
        log.warning(
            "could not ask whether the model server passes tools", model=model, error=str(e)
        )
        return "unknown"
    if called:
        log.info("the model server passes tools to the model", model=model, api=api)
        return "passes"
    if not text:
        log.warning("could not tell whether the model server passes tools", model=model)
        return "unknown"
    log.warning(
        "the model server drops tools: agents' tools never reach the model, and their "
        "runs end tools_dropped; serve a model whose chat template has tools (llama.cpp: "
        "--jinja and a tools-capable GGUF)",
        model=model,
        api=api,
        llm=str(client.base_url),
    )
    return "drops"


HEADERS = {PROBE_HEADER: "tools"}
PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


async def _chat(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    reply = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PROBE_PROMPT}],
        tools=[{"type": "function", "function": {"name": PROBE_TOOL, "parameters": PARAMETERS}}],
        tool_choice="required",
        max_completion_tokens=PROBE_TOKENS,
        timeout=PROBE_TIMEOUT_SECONDS,
        extra_headers=HEADERS,
    )
    message = reply.choices[0].message if reply.choices else None
    if message is None:
        return False, ""
    return bool(message.tool_calls), message.content or ""


async def _responses(client: AsyncOpenAI, model: str) -> tuple[bool, str]:
    reply = await client.responses.create(
        model=model,
        input=PROBE_PROMPT,
        tools=[{"type": "function", "name": PROBE_TOOL, "parameters": PARAMETERS, "strict": False}],
        tool_choice="required",
        max_output_tokens=PROBE_TOKENS,
        store=False,
        timeout=PROBE_TIMEOUT_SECONDS,
        extra_headers=HEADERS,
    )
    called = any(item.type == "function_call" for item in reply.output or [])
    return called, reply.output_text
