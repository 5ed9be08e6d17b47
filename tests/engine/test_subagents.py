"""Sub-agents on the time-skipping server: a lead agent hands a task to a helper agent,
which runs as a child AgentWorkflow; its answer reaches the lead's model and its tokens
the lead's usage and budget."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tether import Agent, AgentRegistry, AgentResult, AgentRun, Budgets, ToolContext, subagent, tool
from tether.testing import SIGNER, ScriptedLLM, Step, call_tools, say, wait_for_approvals, worker

HELPER = Agent(name="helper", instructions="You are the helper. Do the task you are given.")
LEAD = Agent(
    name="lead",
    instructions="You are the lead. Hand research to the helper.",
    tools=[subagent("helper", "Ask the helper agent to do a task; returns its answer.")],
)
AGENTS = AgentRegistry([LEAD, HELPER])
TASK = "Find the answer to everything."


def team(helper_says: str) -> Any:
    """The scripted model of both agents, told apart by their instructions."""

    def respond(messages: list[dict[str, Any]]) -> Step:
        if messages[0]["content"] == HELPER.instructions:
            return say(helper_says)
        tool_results = [m["content"] for m in messages if m["role"] == "tool"]
        if not tool_results:
            return call_tools(("ask_helper", {"task": TASK}))
        return say(f"The helper says: {tool_results[-1]}")

    return respond


async def run_lead(
    env: WorkflowEnvironment, llm: ScriptedLLM, budgets: Budgets | None = None
) -> tuple[str, AgentResult]:
    parent_id = f"lead-{uuid.uuid4().hex[:8]}"
    async with worker(env.client, AGENTS, llm) as w:
        run = await AgentRun.start(
            env.client, LEAD, "What is the answer?", id=parent_id, task_queue=w.task_queue,
            budgets=budgets,
        )  # fmt: skip
        result = await run.result()
    return parent_id, result


async def started_input(env: WorkflowEnvironment, workflow_id: str) -> dict[str, Any]:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return dict(json.loads(started.input.payloads[0].data))


async def test_the_childs_answer_reaches_the_parents_model_and_its_tokens_the_usage(
    ts_env: WorkflowEnvironment,
) -> None:
    with ScriptedLLM(team("The answer is 42.")) as llm:
        parent_id, result = await run_lead(ts_env, llm)

    (handoff,) = llm.requests[0].body["tools"]
    assert handoff["function"]["name"] == "ask_helper"
    assert handoff["function"]["parameters"]["required"] == ["task"]
    assert result.status == "completed"
    assert result.answer == "The helper says: The answer is 42."
    lead_last = llm.requests[-1].messages
    assert [m["content"] for m in lead_last if m["role"] == "tool"] == ["The answer is 42."]
    # Three model calls: the lead's two and the helper's one, all in the lead's usage.
    assert llm.request_count == 3
    assert result.usage.total_tokens == sum(llm.reported_total_tokens)
    assert result.turns == 2  # the lead's own calls; the helper's are its own run's

    child_id = f"{parent_id}:1:call_0001"
    child = await ts_env.client.get_workflow_handle(child_id).describe()
    assert child.parent_id == parent_id
    assert await child.static_summary() == f"helper for {parent_id}: {TASK}"
    assert (await started_input(ts_env, child_id))["prompt"] == TASK
    history = await ts_env.client.get_workflow_handle(parent_id).fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED in kinds


async def test_a_child_that_spends_the_budget_ends_the_parent_with_max_tokens(
    ts_env: WorkflowEnvironment,
) -> None:
    budget = 700
    with ScriptedLLM(team("x" * 4000)) as llm:  # about 1,000 tokens of answer
        parent_id, result = await run_lead(ts_env, llm, Budgets(max_total_tokens=budget))

    lead_first = llm.requests[0].total_tokens
    child_input = await started_input(ts_env, f"{parent_id}:1:call_0001")
    assert child_input["max_total_tokens"] == budget - lead_first  # what the lead had left
    assert result.status == "max_tokens"
    assert llm.request_count == 2  # the lead never got a second call
    assert result.usage.total_tokens == sum(llm.reported_total_tokens) > budget


def test_a_registry_refuses_a_sub_agent_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="hands work to agent 'helper', which is not registered"):
        AgentRegistry([LEAD])


@tool(side_effects=True, needs_approval=True)
def publish(ctx: ToolContext, text: str) -> str:
    """Publish a text (a person approves it first)."""
    return f"published for {ctx.acting_for}: {text}"


PUBLISHER = Agent(name="publisher", instructions="You publish.", tools=[publish])
EDITOR = dataclasses.replace(
    LEAD,
    name="editor",
    instructions="You are the editor.",
    tools=[subagent("publisher", "Hand a text to the publisher.")],
    approvers=["alice@shop", "sam@shop"],
)


def editorial(messages: list[dict[str, Any]]) -> Step:
    """The editor hands the text on; the publisher publishes it; both then answer."""
    done = [m["content"] for m in messages if m["role"] == "tool"]
    if done:
        return say(done[-1])
    if messages[0]["content"] == PUBLISHER.instructions:
        return call_tools(("publish", {"text": "the news"}))
    return call_tools(("ask_publisher", {"task": "Publish the news."}))


async def test_a_sub_agent_acts_for_whom_its_parent_acts_and_keeps_its_approvers(
    ts_env: WorkflowEnvironment,
) -> None:
    # The child's call needs a person: the parent's agent names its approvers, so the
    # child's run refuses a decider the parent would refuse (its starter, anyone else).
    parent_id = f"editor-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(editorial) as llm:
        async with worker(ts_env.client, AgentRegistry([EDITOR, PUBLISHER]), llm) as w:
            parent = await AgentRun.start(
                ts_env.client, EDITOR, "Publish.", id=parent_id, task_queue=w.task_queue,
                acting_for="C-9", started_by="sam@shop",
            )  # fmt: skip
            child = AgentRun.attach(ts_env.client, f"{parent_id}:1:call_0001")
            (call,) = await wait_for_approvals(child.handle)
            refusals = []
            for who in ["bob@shop", "sam@shop"]:
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await child.approve(call, signer=SIGNER, approver=who)
                assert isinstance(refused.value.cause, ApplicationError)
                refusals.append(refused.value.cause.message)
            await child.approve(call, signer=SIGNER, approver="alice@shop")
            result = await parent.result()

    child_input = await started_input(ts_env, child.id)
    assert (child_input["acting_for"], child_input["started_by"]) == ("C-9", "sam@shop")
    assert refusals == [
        "'bob@shop' is not among this agent's approvers",
        "'sam@shop' started this run and may not decide its calls",
    ]
    assert result.answer == "published for C-9: the news"
