"""A policy's judge model, asked about one tool call (an activity).

The judge answers in a JSON schema the provider is asked to follow, and its reply is read
as untrusted bytes: anything that is not a verdict comes back as an `invalid` verdict,
which asks a person, never as an error the workflow would retry or fail on. The model
server's own errors are classified as a model call's are, so Temporal retries them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ValidationError
from temporalio import activity

from tether._activities.heartbeat import heartbeating
from tether._activities.llm import LlmActivities, parse_completion
from tether._activities.llm_errors import classify
from tether._events import cut
from tether._logs import get_logger
from tether._run_io import JudgeVerdict
from tether._scripted_llm.steps import AGENT_HEADER
from tether._wire import JUDGE_ACTIVITY, JudgeReply, JudgeRequest

log = get_logger("tether.judge")

# What the judge must answer: its verdict and why.
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["approve", "refuse", "unsure"]},
        "reasoning": {"type": "string"},
    },
    "required": ["verdict", "reasoning"],
    "additionalProperties": False,
}
FORMAT = (
    'Answer with a JSON object only: {"verdict": "approve" | "refuse" | "unsure", '
    '"reasoning": "why, in one or two sentences"}.'
)
# How much of a reply that is no verdict the run records (and a person is shown).
SHOWN_CHARS = 500


class _Said(BaseModel):
    verdict: Literal["approve", "refuse", "unsure"]
    reasoning: str


class JudgeActivities:
    """The judge activity, on the worker's model client (its `LlmActivities`')."""

    def __init__(self, llm: LlmActivities) -> None:
        self._llm = llm

    @activity.defn(name=JUDGE_ACTIVITY)
    async def judge(self, request: JudgeRequest) -> JudgeReply:
        """Ask an approval policy's judge model about one tool call."""
        async with heartbeating():
            reply = await ask_judge(self._llm.client, request, self._llm.secrets)
        reply.cost_usd = self._llm.prices.cost(request.model, reply.usage)
        return reply


async def ask_judge(client: AsyncOpenAI, request: JudgeRequest, secrets: list[str]) -> JudgeReply:
    """The judge's verdict on `request`'s call."""
    try:
        completion = await client.chat.completions.create(
            model=request.model,
            messages=[
                {"role": "system", "content": f"{request.instructions}\n\n{FORMAT}"},
                {"role": "user", "content": request.question},
            ],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "Verdict", "schema": VERDICT_SCHEMA, "strict": True},
            },
            timeout=request.timeout_seconds,
            extra_headers={AGENT_HEADER: request.judge},
        )
    except openai.APIError as e:
        raise classify(e, model=request.model, secrets=secrets) from None
    message, usage, _ = parse_completion(completion, request.model)
    verdict = read_verdict(message.content, request.model)
    log.info("judge answered", judge=request.judge, verdict=verdict.verdict)
    return JudgeReply(verdict=verdict, usage=usage)


def read_verdict(text: str | None, model: str) -> JudgeVerdict:
    """The verdict in the judge's reply, or an `invalid` one saying what it said."""
    try:
        said = _Said.model_validate(json.loads(text or ""))
    except (ValueError, ValidationError):
        shown = cut(text or "(no text)", SHOWN_CHARS)
        return JudgeVerdict(
            verdict="invalid", reasoning=f"the judge's reply is no verdict: {shown}", model=model
        )
    reasoning = cut(said.reasoning, SHOWN_CHARS * 4)
    return JudgeVerdict(verdict=said.verdict, reasoning=reasoning, model=model)
