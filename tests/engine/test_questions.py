"""Questions an agent asks a person (`ask_person`): the answer comes back typed to the
model, answers the question's schema refuses never reach history, and nobody answering
in time is told to the model.

The time-skipping server runs these: a two-hour wait fires in milliseconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.question_agents import (
    ANSWERER,
    ORDERS,
    REGISTRY,
    SCRIPTS,
    WHICH_ORDER,
    Quantity,
    signed_answer,
)
from tether import AgentRun, RunState, Usage, ask_person
from tether._questions import FREE_TEXT, given_answer
from tether._visibility import LABEL_BYTES, current_details, question_summary
from tether.approvals import PendingQuestion, QuestionAnswer
from tether.events import QuestionAnswered, QuestionAsked
from tether.testing import SIGNER, ScriptedLLM, call_tools, say, worker

Handle = WorkflowHandle[Any, Any]


def refusal(error: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    cause = error.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


def tool_results(llm: ScriptedLLM) -> list[str]:
    return [str(m["content"]) for m in llm.requests[-1].messages if m["role"] == "tool"]


async def updates_in_history(handle: Handle) -> list[bytes]:
    """The updates the run accepted, as history holds them."""
    return [
        e.SerializeToString()
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


async def test_the_agent_asks_which_order_and_gets_the_answer_typed(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(ts_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                ts_env.client, "order-picker", "My order is broken.", task_queue=w.task_queue
            )
            (question,) = await run.wait_for_question()
            state = await run.state()
            refused = []
            for bad in ["A-1003", 1001, ["A-1001"]]:
                with pytest.raises(WorkflowUpdateFailedError) as error:
                    await run.send_answer(signed_answer(run.handle, question, bad))
                refused.append(refusal(error))
            with pytest.raises(WorkflowUpdateFailedError) as unknown:
                await run.send_answer(
                    signed_answer(run.handle, question, "A-1002", call_id="call_nope")
                )
            answered = await run.answer(question, "A-1002", signer=SIGNER, answerer=ANSWERER)
            with pytest.raises(WorkflowUpdateFailedError) as again:
                await run.answer(question, "A-1001", signer=SIGNER, answerer=ANSWERER)
            result = await run.result()
            events = [e async for e in run.events(watch=False)]

    assert state.status == "awaiting_answer"
    assert question.question == WHICH_ORDER and question.choices == ORDERS
    assert question.answer_schema == {"type": "string", "enum": ORDERS}
    choices = 'must be one of "A-1001", "A-1002"'
    assert refused == [
        f"the answer is refused: answer: {choices}",
        f"the answer is refused: answer: {choices}; answer: must be of type string",
        f"the answer is refused: answer: {choices}; answer: must be of type string",
    ]
    waiting = question.call_id
    assert refusal(unknown) == f"no question 'call_nope' waits for an answer (waiting: {waiting})"
    assert refusal(again) == f"question {waiting!r} was already answered or timed out"
    assert answered.call_id == question.call_id
    # The model got the answer as JSON, with who gave it.
    assert json.loads(tool_results(llm)[-1]) == {"answer": "A-1002", "answered_by": ANSWERER}
    assert result.status == "completed" and result.answer == "You mean order A-1002."
    # Only the one answer taken is in history: none of the refused ones.
    (accepted,) = await updates_in_history(run.handle)
    assert b"A-1002" in accepted and b"A-1003" not in accepted
    history = b"".join([e.SerializeToString() async for e in run.handle.fetch_history_events()])
    assert b"A-1003" not in history and b"call_nope" not in history
    asked = [e for e in events if isinstance(e, QuestionAsked)]
    told = [e for e in events if isinstance(e, QuestionAnswered)]
    assert [(e.question, e.choices) for e in asked] == [(WHICH_ORDER, ORDERS)]
    assert [(e.answer, e.answered_by) for e in told] == [('"A-1002"', ANSWERER)]


async def test_a_typed_answer_is_checked_against_its_pydantic_model(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        call_tools(("ask_customer", {"question": "How many?", "choices": None})), say("Noted.")
    )
    async with worker(ts_env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(
            ts_env.client, "quantity-asker", "I want some.", task_queue=w.task_queue
        )
        (question,) = await run.wait_for_question()
        refused = []
        for bad in [{"quantity": "three"}, {"quantity": 11}, {}, "3"]:
            with pytest.raises(WorkflowUpdateFailedError) as error:
                await run.send_answer(signed_answer(run.handle, question, bad))
            refused.append(refusal(error))
        await run.answer(question, Quantity(quantity=3), signer=SIGNER, answerer=ANSWERER)
        result = await run.result()

    assert question.answer_schema == Quantity.model_json_schema()
    assert refused == [
        "the answer is refused: answer.quantity: must be of type integer",
        "the answer is refused: answer.quantity: must be at most 10",
        "the answer is refused: answer.quantity: required",
        "the answer is refused: answer: must be of type object",
    ]
    assert json.loads(tool_results(llm)[-1])["answer"] == {"quantity": 3}
    assert result.status == "completed"


async def test_a_bad_question_goes_back_to_the_model_and_nobody_is_asked(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        call_tools(("ask_person", {"question": "Which?", "choices": ["A-1001"]})),
        call_tools(("ask_person", {"question": "Which?", "choices": ["A-1001", "A-1001"]})),
        say("I could not ask."),
    )
    async with worker(ts_env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(ts_env.client, "order-picker", "Hi.", task_queue=w.task_queue)
        result = await run.result()

    first, second = tool_results(llm)
    assert first.endswith("ask_person: choices: matches none of the allowed forms")
    assert "choices: each choice must differ from the others" in second
    assert result.status == "completed"
    assert await updates_in_history(run.handle) == []


async def test_nobody_answering_in_time_is_told_to_the_model(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(scripts=SCRIPTS) as llm:
        async with worker(ts_env.client, REGISTRY, llm) as w:
            run = await AgentRun.start(
                ts_env.client, "order-picker", "My order is broken.", task_queue=w.task_queue
            )
            (question,) = await run.wait_for_question()
            result = await run.result()  # the two hours pass on the run's clock

    assert question.expires_at - question.since == timedelta(hours=2)
    assert "nobody answered within 2 hours" in tool_results(llm)[-1]
    assert result.answer == "Nobody told me which order you mean."


async def test_only_a_named_answerer_with_a_trusted_key_may_answer(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        call_tools(("ask_person", {"question": WHICH_ORDER, "choices": ORDERS})), say("Ok.")
    )
    async with worker(ts_env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(ts_env.client, "named-asker", "Hi.", task_queue=w.task_queue)
        (question,) = await run.wait_for_question()
        refused = []
        for bad in [
            signed_answer(run.handle, question, "A-1001", answerer="mallory@tests"),
            signed_answer(run.handle, question, "A-1001", signature=None),
            signed_answer(run.handle, question, "A-1001", value='"A-1002"'),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as error:
                await run.send_answer(bad)
            refused.append(refusal(error))
        await run.send_answer(signed_answer(run.handle, question, "A-1001"))
        result = await run.result()

    assert refused[0] == "'mallory@tests' is not among this question's answerers"
    assert refused[1].startswith("answer refused: it is unsigned")
    assert refused[2].startswith("answer refused: its signature does not verify")
    assert result.status == "completed"


def test_an_answer_schema_the_check_cannot_enforce_is_refused_where_it_is_defined() -> None:
    class Even(BaseModel):
        model_config = {"json_schema_extra": {"multipleOf": 2}}
        n: int

    with pytest.raises(ValueError, match="uses multipleOf"):
        ask_person(Even)
    with pytest.raises(ValueError, match="timeout must be positive"):
        ask_person(timeout=timedelta(0))
    with pytest.raises(TypeError, match="pydantic model class, a JSON schema"):
        ask_person(int)  # type: ignore[arg-type]


async def test_a_free_text_answer_is_any_text_and_what_a_person_types_is_read_as_such(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(
        call_tools(("ask_person", {"question": "Which floor?", "choices": None})), say("Ok.")
    )
    async with worker(ts_env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(ts_env.client, "order-picker", "Hi.", task_queue=w.task_queue)
        (question,) = await run.wait_for_question()
        with pytest.raises(WorkflowUpdateFailedError) as empty:
            await run.answer(question, "", signer=SIGNER)
        # No call id: the only question that waits.
        await run.send_answer(
            SIGNER.sign_answer(
                QuestionAnswer(value=json.dumps(given_answer("3", question))),
                question=question,
                namespace="default",
                workflow_id=run.id,
                first_run_id=run.handle.first_execution_run_id or "",
            ).model_copy(update={"call_id": None})
        )
        assert (await run.result()).status == "completed"

    assert question.answer_schema == FREE_TEXT
    assert refusal(empty) == "the answer is refused: answer: at least 1 characters"
    assert json.loads(tool_results(llm)[-1]) == {"answer": "3", "answered_by": "tester"}
    choice = question.model_copy(update={"answer_schema": {"type": "integer"}})
    assert given_answer("3", choice) == 3
    assert given_answer('{"quantity": 3}', choice) == {"quantity": 3}
    assert given_answer("three", choice) == "three"  # the run says why it is refused


def test_a_questions_timer_label_fits_what_temporal_keeps() -> None:
    asked = PendingQuestion(
        call_id="call_1",
        tool="ask_person",
        question="Welche Bestellung meinen Sie? ü€😀 " * 40,
        answer_schema=FREE_TEXT,
        turn=1,
        since=datetime(2027, 1, 1, tzinfo=UTC),
        expires_at=datetime(2027, 1, 2, tzinfo=UTC),
    )
    short = question_summary(asked.model_copy(update={"question": "Which order?"}), "order-7")
    assert short == (
        "waiting for a person to answer 'Which order?' · tether answer order-7 --call call_1 "
        "ANSWER · until 2027-01-02 00:00 UTC"
    )
    for workflow_id in ["order-7", "o" * 255]:
        assert len(question_summary(asked, workflow_id).encode()) <= LABEL_BYTES


def test_the_web_uis_details_show_the_question_and_how_to_answer_it() -> None:
    asked = PendingQuestion(
        call_id="call_1",
        tool="ask_person",
        question="Which order do you mean?",
        choices=ORDERS,
        answer_schema={"type": "string", "enum": ORDERS},
        turn=1,
        since=datetime(2027, 1, 1, tzinfo=UTC),
        expires_at=datetime(2027, 1, 2, tzinfo=UTC),
    )
    state = RunState(
        status="awaiting_answer", agent="order-picker", model="m", turn=1, usage=Usage(),
        messages=3, pending_questions=[asked],
    )  # fmt: skip
    details = current_details(state, 10, "a person to answer ask_person (call call_1)", "o-7")
    assert "```\nWhich order do you mean?\n```" in details
    assert "Choices: ` A-1001 `, ` A-1002 `" in details
    assert "Answer with `tether answer o-7 --call call_1 ANSWER`." in details
