"""The model sees the whole conversation; the run's history holds each message once.

LLM requests carry only the messages added since the run's previous call
(activities/conversations.py). These tests check both sides of that bargain: what the
scripted model received over HTTP, and what the history recorded.
"""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import model_calls
from tests.support.ledger import CUSTOMER
from tests.support.order_desk import REGISTRY
from tether import AgentRun, Message
from tether.testing import ScriptedLLM, approve_all, call_tools, say, wait_for_approvals, worker
from tether.workflow import AgentWorkflow

TURNS = 12


def size(messages: list[Message]) -> int:
    return sum(len(m.model_dump_json()) for m in messages)


async def test_history_holds_each_message_once_while_the_model_sees_them_all(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    llm.enqueue(*[call_tools(("lookup_order", {"order_id": "A-1001"}))] * (TURNS - 1), say("done"))
    async with worker(ts_env.client, REGISTRY, llm) as w:
        run = await AgentRun.start(
            ts_env.client,
            "order-desk",
            "A-1001, again and again",
            task_queue=w.task_queue,
            acting_for=CUSTOMER,
        )
        handle = run.handle
        result = await handle.result()
        transcript = await handle.query(AgentWorkflow.transcript)

    assert result.status == "completed"
    assert result.turns == TURNS
    # The model got system + user, then each turn's tool call and result on top.
    assert [len(r.messages) for r in llm.requests] == [2 + 2 * turn for turn in range(TURNS)]
    assert llm.requests[-1].messages == [m.to_openai() for m in transcript[:-1]]
    # History: the first request carries the prompt (the worker puts the agent's
    # instructions, from its spec, before it), each later one the two new messages.
    recorded = [request for request, _ in await model_calls(handle)]
    assert [r.known for r in recorded] == [2 * turn for turn in range(TURNS)]
    assert [len(r.messages) for r in recorded] == [1] + [2] * (TURNS - 1)
    # So the requests in history add up to the conversation, not to TURNS copies of it.
    assert transcript[0].role == "system"
    assert sum(size(r.messages) for r in recorded) == size(transcript[1:-1])


async def test_a_worker_that_never_saw_the_run_rebuilds_its_conversation_from_history(
    dev_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    # The dev server: the time-skipping one keeps routing a run to the first worker's
    # sticky queue after that worker is gone.
    llm.enqueue(
        call_tools(("lookup_order", {"order_id": "A-1001"})),
        call_tools(("issue_refund", {"order_id": "A-1001", "reason": "broken"})),
        say("Refunded."),
    )
    queue = f"test-{uuid.uuid4().hex[:8]}"
    async with worker(dev_env.client, REGISTRY, llm, queue=queue):
        run = await AgentRun.start(
            dev_env.client,
            "order-desk",
            "A-1001 arrived broken",
            task_queue=queue,
            acting_for=CUSTOMER,
        )
        handle = run.handle
        await wait_for_approvals(handle)
    # A new worker process in all but name: no cached run, no cached conversation.
    async with worker(dev_env.client, REGISTRY, llm, queue=queue):
        await approve_all(run)
        result = await handle.result()
        transcript = await handle.query(AgentWorkflow.transcript)

    assert result.status == "completed"
    assert llm.request_count == 3
    # The call after the switch sent 2 new messages; the model still got all 6.
    assert (await model_calls(handle))[-1][0].known == 4
    assert llm.requests[-1].messages == [m.to_openai() for m in transcript[:-1]]
