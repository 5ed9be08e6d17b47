"""Questions the agent asks a person (`ask_person`; workflow code: deterministic, no I/O).

A call of an `ask_person` tool has its arguments checked against the tool's schema (a
bad call goes back to the model, nobody is asked), then waits for the workflow's
`answer` update, like a call that needs approval waits for `decide` (approvals.py: the
same durable wait, the same proof of who sent it). The update's validator runs
`Questions.check`, so an answer is refused before it reaches history when it is for an
unknown or already answered question, does not match the question's schema (the
model's choices, the tool's answer type, or free text), is not signed by a key the run
trusts for its answerer, or comes from someone not among the question's answerers. With
no answer in time, the model is told nobody answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether import _arguments
    from tether._events import Event, QuestionAnswered, QuestionAsked
    from tether._messages import ToolCall
    from tether._questions import answer_schema
    from tether._records import AgentSpec, ToolSpec
    from tether._run_io import PendingQuestion, QuestionAnswer
    from tether._signing import check_answer_signature
    from tether._tools import invalid_arguments
    from tether._trust import ApproverKeys
    from tether._visibility import question_summary
    from tether._wire import ToolOutcome

from tether._workflows.person_waits import (
    Role,
    Rules,
    Waits,
    check_person,
    hours,
    run_binding,
    wait_for_person,
    waiting_one,
)

QUESTIONS = Waits("question", "for an answer", "was already answered or timed out")
ANSWERER = Role(
    "this question is answered by named people: say who answers",
    "this question's answerers",
    "answer its questions",
)


class Questions:
    """The questions waiting for a person, and which were answered (or timed out)."""

    def __init__(self, on_change: Callable[[], None], publish: Callable[[Event], None]) -> None:
        self._pending: dict[str, PendingQuestion] = {}
        self._rules: dict[str, Rules] = {}
        self._answers: dict[str, QuestionAnswer | None] = {}  # None: nobody answered in time
        # The workflow keeps its status current through this, its event feed through that.
        self._on_change = on_change
        self._publish = publish

    @property
    def pending(self) -> list[PendingQuestion]:
        return list(self._pending.values())

    def check(self, answer: QuestionAnswer) -> None:
        """Raise ValueError (the update is refused) unless `answer` can be taken now.

        Runs in the update's validator: it must not change anything.
        """
        question = waiting_one(self._pending, self._answers, answer.call_id, QUESTIONS)
        answer_value(answer.value, question.answer_schema)

        def prove(keys: ApproverKeys) -> None:
            check_answer_signature(keys, answer, question, run_binding(), now=workflow.now())

        check_person(self._rules[question.call_id], answer.answerer, prove, ANSWERER)

    def answer(self, answer: QuestionAnswer) -> PendingQuestion:
        """Record a checked answer; the waiting question wakes up with it."""
        question = self._pending[answer.call_id or next(iter(self._pending))]
        self._answers[question.call_id] = answer.model_copy(update={"call_id": question.call_id})
        return question

    async def ask(self, tool: ToolSpec, call: ToolCall, *, turn: int, rules: Rules) -> ToolOutcome:
        """Ask the person, wait, and give the model the answer (or why there is none)."""
        try:
            args = _arguments.parse(call.arguments)
            _arguments.check(tool.parameters, args)
        except _arguments.ArgumentsError as e:
            return invalid_arguments(call.name, str(e))
        choices: list[str] | None = args.get("choices")
        if choices is not None and len(set(choices)) < len(choices):
            return invalid_arguments(call.name, "choices: each choice must differ from the others")
        assert tool.question is not None  # ask_person always sets it
        # A provider that numbers calls per message may reuse an id: this one is asked anew.
        self._answers.pop(call.id, None)
        expires_after = timedelta(seconds=tool.question.timeout_seconds)
        question = self._pending[call.id] = PendingQuestion(
            call_id=call.id,
            tool=call.name,
            question=args["question"],
            choices=choices,
            answer_schema=answer_schema(tool.question, choices),
            turn=turn,
            since=workflow.now(),
            expires_at=workflow.now() + expires_after,
        )
        self._rules[call.id] = rules
        self._on_change()
        self._publish(
            QuestionAsked(
                turn=turn,
                call_id=call.id,
                tool=call.name,
                question=question.question,
                choices=choices,
                expires_at=question.expires_at,
            )
        )

        def timed_out() -> None:
            self._answers[call.id] = None  # a late answer is refused
            self._publish(
                QuestionAnswered(turn=turn, call_id=call.id, tool=call.name, timed_out=True)
            )

        def done() -> None:
            del self._pending[call.id]
            del self._rules[call.id]

        await wait_for_person(
            lambda: self._answers.get(call.id) is not None,
            expires_after=expires_after,
            summary=question_summary(question, workflow.info().workflow_id),
            timed_out=timed_out,
            done=done,
            on_change=self._on_change,
        )
        answer = self._answers[call.id]
        if answer is None:
            return ToolOutcome(
                error="unanswered",
                content=f"Error: nobody answered within {hours(expires_after)}. Go on without "
                "the answer if you can, or tell the user what you need to know.",
            )
        who = answer.answerer or "person"
        value = answer_value(answer.value, question.answer_schema)
        self._publish(
            QuestionAnswered(
                turn=turn,
                call_id=call.id,
                tool=call.name,
                answer=json.dumps(value, ensure_ascii=False),
                answered_by=who,
            )
        )
        return ToolOutcome(
            content=json.dumps({"answer": value, "answered_by": who}, ensure_ascii=False)
        )


def answer_value(text: str, schema: dict[str, Any]) -> Any:
    """The answer's JSON `text` parsed strictly and checked against `schema` (ValueError,
    one line, saying what is wrong)."""
    try:
        value = _arguments.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"the answer is not JSON ({e}); a text answer is a JSON string") from None
    except _arguments.ArgumentsError as e:
        raise ValueError(f"the answer is refused: {e}") from None
    try:
        _arguments.check(schema, value, name="answer")
    except _arguments.ArgumentsError as e:
        raise ValueError(f"the answer is refused: {e}") from None
    return value


def question_rules(spec: AgentSpec, tool: ToolSpec, *, bound: bool) -> Rules:
    """Who may answer a question of `tool`: its answerers (else the agent's approvers),
    proven by the keys the run trusts (`bound`: a run that checks them). The run's
    starter may answer (it is often the person asked), and a sub-agent's parents'
    approvers have no say."""
    answerers = tool.question.answerers if tool.question is not None else None
    if answerers is None:
        answerers = spec.approvers
    return Rules(
        approvers=tuple(answerers) if answerers is not None else None,
        keys=spec.approver_keys if bound else None,
    )


class AnswersQuestions:
    """The `answer` update of a workflow whose agent may ask a person a question."""

    _questions: Questions

    @workflow.update
    def answer(self, answer: QuestionAnswer) -> PendingQuestion:
        """Answer a question the agent asked a person."""
        return self._questions.answer(answer)

    @answer.validator
    def _check_answer(self, answer: QuestionAnswer) -> None:
        self._questions.check(answer)
