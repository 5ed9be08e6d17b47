"""`ask_person`: the agent asks a person a question and waits, durably, for a typed answer.

    class Quantity(BaseModel):
        quantity: int = Field(ge=1, le=10)

    SHOP = Agent(name="shop", instructions="...", tools=[ask_person(Quantity), ...])

The model sees a tool taking `{"question": "...", "choices": [...] or null}`. The
workflow intercepts its calls (like `WAIT` and `subagent`): the question waits for the
run's `answer` update (`AgentRun.answer`, `tether answer`, the inbox of `tether web`)
with a durable timeout. The answer must match the question's schema, checked by the
update's validator, so a malformed one is refused before it reaches history: one of the
model's choices when it offered some, else the tool's answer type, else free text. The
model gets the answer back as JSON (`{"answer": ..., "answered_by": ...}`), or, when
nobody answered in time, a note saying so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field

from tether import _arguments
from tether._limits import MAX_NAME_CHARS
from tether._records import QuestionSpec
from tether._run_io import PendingQuestion
from tether._tools import Tool

MAX_QUESTION_CHARS = 2_000
MAX_CHOICES = 20
MAX_CHOICE_CHARS = 200
MAX_TEXT_ANSWER_CHARS = 10_000
# A free-text answer: what an ask_person tool without an answer type takes.
FREE_TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_ANSWER_CHARS}
DEFAULT_DESCRIPTION = (
    "Ask a person a question and wait for their answer (it may take hours). Ask only what "
    "you cannot find out with your other tools, one question at a time, saying what it is "
    "about. When the answer is one of a few options, list them as `choices`."
)


class QuestionArgs(BaseModel):
    """What the model sends when it asks."""

    question: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="The question, as the person will read it: say what it is about.",
    )
    choices: list[Annotated[str, Field(min_length=1, max_length=MAX_CHOICE_CHARS)]] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_CHOICES,
        description="The answers to choose from, when the answer is one of a few; null for "
        "an open answer.",
    )


def ask_person(
    answer: type[BaseModel] | dict[str, Any] | None = None,
    *,
    name: str = "ask_person",
    description: str | None = None,
    timeout: timedelta = timedelta(hours=24),
    answerers: Sequence[str] | None = None,
) -> Tool:
    """A tool with which the agent asks a person a question and waits for the answer.

    Args:
        answer: What an answer must be when the model offers no choices: a pydantic model
            (its JSON schema), a JSON schema, or None for free text. The schema is checked
            by the run before an answer reaches history, so it may use only what that
            check enforces (as a tool that needs approval; see the questions guide).
        name: The tool's name, as the model sees it.
        description: Tells the model when to ask; the default says to ask only what its
            other tools cannot find out.
        timeout: How long a question waits; then the model is told nobody answered.
        answerers: Who may answer (names, proven like approvers' by a signature when the
            run trusts keys); default the agent's approvers, or anyone if it names none.

    Returns:
        A tool to list in `Agent(tools=[...])`.
    """
    if timeout <= timedelta(0):
        raise ValueError(f"ask_person {name!r}: timeout must be positive, got {timeout}")
    if answerers is not None and (
        isinstance(answerers, str)
        or not answerers
        or not all(0 < len(n) <= MAX_NAME_CHARS and n.strip() == n for n in answerers)
    ):
        raise ValueError(f"ask_person {name!r}: answerers is a non-empty list of names")
    schema = _answer_schema(name, answer)

    def ask(args: QuestionArgs) -> str:
        raise RuntimeError("ask_person runs in the workflow as a durable wait, not an activity")

    question = QuestionSpec(
        answer=schema,
        timeout_seconds=timeout.total_seconds(),
        answerers=list(answerers) if answerers is not None else None,
    )
    tool = Tool(ask, name=name, description=description or DEFAULT_DESCRIPTION)
    return tool.builtin("ask_person", question=question)


def _answer_schema(
    name: str, answer: type[BaseModel] | dict[str, Any] | None
) -> dict[str, Any] | None:
    if answer is None:
        return None
    if isinstance(answer, type) and issubclass(answer, BaseModel):
        schema = answer.model_json_schema()
    elif isinstance(answer, dict):
        schema = answer
    else:
        raise TypeError(
            f"ask_person {name!r}: answer is a pydantic model class, a JSON schema (dict) "
            f"or None, not {type(answer).__name__}"
        )
    if found := _arguments.unchecked(schema):
        raise ValueError(
            f"ask_person {name!r}: the answer's schema uses {', '.join(sorted(found))}, which "
            "the check before an answer reaches history does not enforce: express the rule "
            "with the keywords it checks (see the questions guide)"
        )
    return schema


def given_answer(text: str, question: PendingQuestion) -> Any:
    """What a person typed (`tether answer`, a page's form) as the answer's value: JSON,
    or the text itself when it is not JSON, or when the question takes text and the
    JSON is not (`3` answers "which floor?" as "3")."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    takes_text = question.answer_schema.get("type") == "string"
    return text if takes_text and not isinstance(value, str) else value


def answer_schema(spec: QuestionSpec, choices: list[str] | None) -> dict[str, Any]:
    """The schema an answer to one question must match: the model's choices, else the
    tool's answer type, else free text."""
    if choices is not None:
        return {"type": "string", "enum": choices}
    return spec.answer if spec.answer is not None else FREE_TEXT
