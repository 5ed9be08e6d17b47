"""Agents that ask a person (`ask_person`), for the tests of questions: `order-picker`
asks which order the customer means, offering the two as choices; `quantity-asker`
asks how many, with a typed answer (a pydantic model); `named-asker` lets only one
person answer. `pick_order_script` plays the picker as a good model would (ask, then
answer with what it was told). `tether worker --agents
tests.support.question_agents:REGISTRY --offline tests.support.question_agents:SCRIPTS`
serves them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import WorkflowHandle

from tests.support.waiting import first
from tether import Agent, AgentRegistry, ask_person
from tether.approvals import PendingQuestion, QuestionAnswer
from tether.testing import SIGNER, Step, call_tools, say
from tether.workflow import AgentWorkflow

WHICH_ORDER = "Which order do you mean?"
ORDERS = ["A-1001", "A-1002"]
ANSWERER = "ada@tests"


class Quantity(BaseModel):
    quantity: int = Field(ge=1, le=10)


ORDER_PICKER = Agent(
    name="order-picker",
    instructions="Find out which order the customer means, then say which.",
    tools=[ask_person(timeout=timedelta(hours=2))],
)
QUANTITY_ASKER = Agent(
    name="quantity-asker",
    instructions="Ask how many items the customer wants.",
    tools=[ask_person(Quantity, name="ask_customer")],
)
NAMED_ASKER = Agent(
    name="named-asker",
    instructions="Ask the customer which order they mean.",
    tools=[ask_person(answerers=[ANSWERER])],
)
REGISTRY = AgentRegistry([ORDER_PICKER, QUANTITY_ASKER, NAMED_ASKER])


def pick_order_script(messages: list[dict[str, Any]]) -> Step:
    """Ask which order, offering both; then say what the answer was (or that none came)."""
    results = [m for m in messages if m["role"] == "tool"]
    if not results:
        return call_tools(("ask_person", {"question": WHICH_ORDER, "choices": ORDERS}))
    told = json.loads(results[-1]["content"]) if results[-1]["content"].startswith("{") else None
    if told is None:
        return say("Nobody told me which order you mean.")
    return say(f"You mean order {told['answer']}.")


SCRIPTS = {"order-picker": pick_order_script}


async def question_asked(handle: WorkflowHandle[Any, Any]) -> list[PendingQuestion]:
    """The run's questions, once it has asked one (polling its state, as a person would)."""
    state = await first(
        lambda: handle.query(AgentWorkflow.state),
        lambda s: bool(s.pending_questions),
        f"run {handle.id} asked no question",
    )
    return state.pending_questions


def signed_answer(
    handle: WorkflowHandle[Any, Any],
    question: PendingQuestion,
    given: object,
    /,
    *,
    answerer: str = ANSWERER,
    **fields: object,
) -> QuestionAnswer:
    """`given` as a person's answer to `question` of the run `handle` started, signed
    with the key the tests' workers trust; `fields` replace the answer's after signing
    (an answer for another question, or altered)."""
    assert handle.first_execution_run_id, "sign for a run this test started"
    signed = SIGNER.sign_answer(
        QuestionAnswer(value=json.dumps(given), answerer=answerer),
        question=question,
        namespace="default",
        workflow_id=handle.id,
        first_run_id=handle.first_execution_run_id,
    )
    return signed.model_copy(update=fields)
