"""A judge model: pydantic-evals' `LLMJudge`, asked through Tether's LLM activity.

pydantic-evals' own `LLMJudge` calls its model directly; here the evaluation's workflow
asks it, as one more model call of the evaluation (retried, recorded in its history,
priced): an evaluation resumed after a crash does not pay a judge twice. The dataset
keeps pydantic-evals' spelling (`LLMJudge: {rubric: ..., include_input: true}`); its
`model` (`openai:gpt-4o-mini` or a bare name) picks the model, else the evaluation's
judge model, else the worker's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from tether._agents import Agent
from tether._evals.model import JudgeAsk, Score
from tether._messages import Message
from tether._policies import Budgets

if TYPE_CHECKING:
    from tether._evals.dataset import CaseRun
    from tether._wire import LlmReply

JUDGE_AGENT = "tether-eval-judge"
MAX_SHOWN_CHARS = 20_000  # of an output or input, in the judge's prompt


class Verdict(BaseModel):
    """A judge's answer."""

    reason: str = Field(description="Why, in a sentence or two.")
    passed: bool = Field(description="Whether the output meets the rubric.")
    score: float = Field(ge=0, le=1, description="How well it meets it, 0 to 1.")


JUDGE = Agent(
    name=JUDGE_AGENT,
    instructions=(
        "You grade the output of an AI system against a rubric. Read the rubric, the "
        "output and, when given, the input and the expected output; then say whether "
        "the output meets the rubric, how well (0 to 1), and why."
    ),
    output_type=Verdict,
    models=["*"],
    budgets=Budgets(max_turns=1),
)


def is_judge(evaluator: Any) -> bool:
    from pydantic_evals.evaluators import LLMJudge

    return isinstance(evaluator, LLMJudge)


def judge_ask(evaluator: Any, run: CaseRun) -> JudgeAsk:
    """The question an `LLMJudge` asks of one run."""
    parts = [f"<Rubric>\n{evaluator.rubric}\n</Rubric>"]
    if evaluator.include_input:
        parts.append(f"<Input>\n{_shown(run.inputs)}\n</Input>")
    parts.append(f"<Output>\n{_shown(run.output)}\n</Output>")
    if evaluator.include_expected_output and run.expected_output is not None:
        parts.append(f"<ExpectedOutput>\n{_shown(run.expected_output)}\n</ExpectedOutput>")
    model = evaluator.model if isinstance(evaluator.model, str) else None
    if model is not None and model.startswith("openai:"):
        model = model.removeprefix("openai:")
    return JudgeAsk(
        evaluator=evaluator.get_default_evaluation_name(),
        model=model,
        messages=[Message.system(JUDGE.instructions), Message.user("\n\n".join(parts))],
    )


def verdict_score(ask: JudgeAsk, reply: LlmReply) -> Score:
    """The judge's reply as a score: an assertion with its reason, or why it failed."""
    if reply.output is None:
        return Score(evaluator=ask.evaluator, value=None, error=reply.output_error or "no verdict")
    verdict = Verdict.model_validate(reply.output)
    return Score(evaluator=ask.evaluator, value=verdict.passed, reason=verdict.reason)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, indent=1)
    return text[:MAX_SHOWN_CHARS]
