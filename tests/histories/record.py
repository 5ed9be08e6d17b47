"""Record the histories the replay gate checks: representative runs, one JSON file per
run (a conversation that continues-as-new gives one file per run: NAME-run1.json, ...),
into the directory of the current generation of workflow code, `GENERATION`.

    .venv/bin/python -m tests.histories.record                    # every scenario
    .venv/bin/python -m tests.histories.record approval-granted   # only the named ones

Refresh them on purpose only: after a workflow change that is guarded by
`workflow.patched` (old histories must still replay, so keep the old files and add new
ones), or when the change is deliberately incompatible and no old runs are in flight.
tests/durability/test_replay.py also checks that each file holds what its scenario is about.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from support_desk import REGISTRY
from support_desk.agents import SUPPORT_DESK
from support_desk.offline import support_desk_responder
from support_desk.scripts import SCRIPTS
from tests.support.approvals import approval
from tests.support.llm_agents import QUICK_RETRY, TRIAGE, WITH_FALLBACK
from tests.support.mcp_agents import SIDE_EFFECTS, notetaker, stdio_notes
from tests.support.question_agents import (
    ORDERS,
    pick_order_script,
    question_asked,
    signed_answer,
)
from tests.support.question_agents import REGISTRY as QUESTIONS
from tests.support.recorded_histories import GENERATION
from tests.support.runs import AgentHandle
from tests.support.waiting import first, until
from tests.support.writer_agents import chatter
from tether import Agent, AgentRegistry, ContextPolicy, LlmPolicy, subagent, tool
from tether._events import WATCH_SIGNAL
from tether._run_io import INPUT_GENERATION, AgentInput
from tether._settings import SDK_DEFAULTS, WorkerTuning
from tether._temporal import TETHER_CONVERTER
from tether.approvals import (
    ApprovalCheck,
    ApprovalPolicy,
    CallUnderReview,
    Rule,
    check,
    context,
)
from tether.testing import (
    CallTools,
    Cut,
    Fail,
    Say,
    ScriptedLLM,
    Slow,
    Step,
    binary,
    call_tools,
    say,
    wait_for_approvals,
    worker,
)
from tether.workflow import AgentWorkflow
from workflows.refund_pipeline import RefundPipelineWorkflow
from workflows.refund_pipeline_types import RefundResult, RefundTicket

HERE = Path(__file__).parent
# The recorded runs are the demo's: its support desk acts for Ada Lovelace, who owns
# every order of the seeded shop.
CUSTOMER = "C-1"
# Runs that must end without a person: the support desk's refunds need no approval here.
UNATTENDED = dataclasses.replace(
    SUPPORT_DESK,
    tools=[
        tool(side_effects=True)(t.fn) if t.name == "issue_refund" else t for t in SUPPORT_DESK.tools
    ],
)
# The support desk with its model called in local activities.
LOCAL = Agent(
    name="local-llm",
    instructions=SUPPORT_DESK.instructions,
    tools=SUPPORT_DESK.tools,
    llm=LlmPolicy(local_activity=True, retry=QUICK_RETRY),
)
# Continues a reply cut at its length limit.
STORYTELLER = Agent(
    name="storyteller", instructions="Tell stories.", llm=LlmPolicy(on_truncated="continue")
)
# The support desk on the Responses API.
RESPONSES_DESK = dataclasses.replace(
    UNATTENDED, name="responses-desk", llm=LlmPolicy(api="responses")
)
AGENTS = AgentRegistry([UNATTENDED, TRIAGE, WITH_FALLBACK, LOCAL, STORYTELLER, RESPONSES_DESK])


def multi_tool(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    return AgentInput(
        agent="support-desk", acting_for=CUSTOMER, prompt="Order A-1001 arrived broken, refund it."
    )


def parallel_and_bad_calls(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(
        call_tools(
            ("lookup_order", {"order_id": "A-1003"}),
            ("get_refund_policy", {}),
            ("cancel_order", {"order_id": "A-1003"}),
            ("lookup_order", "{not json"),
        ),
        say("Your lamp has shipped."),
    )
    return AgentInput(
        agent="support-desk", acting_for=CUSTOMER, prompt="Where is A-1003? Cancel it."
    )


def structured_output_repaired(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(say('{"category": "complaint"}'), say('{"category": "refund", "order_id": "A-1"}'))
    return AgentInput(agent="triage", prompt="A-1 is broken")


def fallback_after_errors(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(*[Fail(503)] * 5, say("The backup answered."))
    return AgentInput(agent="with-fallback", prompt="hello")


def max_turns(llm: ScriptedLLM) -> AgentInput:
    llm.responder = lambda _: call_tools(("get_refund_policy", {}))
    return AgentInput(agent="support-desk", acting_for=CUSTOMER, prompt="loop", max_turns=2)


def refund_waiting_for_a_person(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    # A-1004: the multi-tool scenario has refunded A-1001 in this shop already.
    return AgentInput(
        agent="support-desk", acting_for=CUSTOMER, prompt="Order A-1004 is faulty, refund it."
    )


async def approve(run: AgentHandle) -> None:
    (call,) = await wait_for_approvals(run)
    await run.execute_update(AgentWorkflow.decide, approval(run, call))


async def reject(run: AgentHandle) -> None:
    (call,) = await wait_for_approvals(run)
    await run.execute_update(
        AgentWorkflow.decide, approval(run, call, approve=False, reason="no photo of the fault")
    )


# A policy that allows the refunds of the run's customer.
ADA_REFUNDS = ApprovalPolicy(
    rules=[Rule.allow("Ada's refunds", context("acting_for").equals(CUSTOMER))]
)
CHECKED_REFUNDS = ApprovalPolicy(rules=[Rule.allow("our customer's refunds", check("ours"))])
# The support desk whose refunds only named people may approve.
GUARDED = AgentRegistry([dataclasses.replace(SUPPORT_DESK, approvers=["bob@shop"])])


def refund_for_a_named_approver(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    return AgentInput(
        agent="support-desk",
        acting_for=CUSTOMER,
        started_by="alice@shop",
        prompt="Order A-1004 is faulty, refund it.",
    )


async def named_approver(run: AgentHandle) -> None:
    (call,) = await wait_for_approvals(run)
    decision = approval(run, call, approver="bob@shop", reason="photo shows the fault")
    await run.execute_update(AgentWorkflow.decide, decision)


def duplicate_keys(llm: ScriptedLLM) -> AgentInput:
    ambiguous = '{"order_id": "A-1001", "reason": "broken", "order_id": "A-1004"}'
    llm.enqueue(call_tools(("issue_refund", ambiguous)), say("I could not refund that."))
    return AgentInput(agent="support-desk", acting_for=CUSTOMER, prompt="Refund A-1001.")


def pipeline_approval(llm: ScriptedLLM) -> RefundTicket:
    llm.scripts = SCRIPTS
    # Over the approval threshold: a person approves the refund the pipeline asks for.
    return RefundTicket(
        text="Order A-1004: the headphones are damaged, refund me.", acting_for=CUSTOMER
    )


async def approve_the_pipelines_refund(run: AgentHandle) -> None:
    (call,) = await wait_for_approvals(run)
    await run.execute_update(AgentWorkflow.decide, approval(run, call))


def pipeline_refund(llm: ScriptedLLM) -> RefundTicket:
    llm.scripts = SCRIPTS
    # Under the approval threshold: the pipeline refunds on its own.
    return RefundTicket(text="Order A-1001 arrived broken, please refund it.", acting_for=CUSTOMER)


def pipeline_judged(llm: ScriptedLLM) -> RefundTicket:
    llm.scripts = SCRIPTS
    # Between the policy's thresholds, damage named: the judge approves, nobody is asked.
    text = "Order A-1005: the espresso machine arrived broken, refund me."
    return RefundTicket(text=text, acting_for=CUSTOMER)


def pipeline_judge_escalated(llm: ScriptedLLM) -> RefundTicket:
    llm.scripts = SCRIPTS
    # Between the thresholds, no damage named: the judge refuses, a person approves.
    text = "Order A-1005: I changed my mind about the espresso machine, refund it."
    return RefundTicket(text=text, acting_for=CUSTOMER)


def refunds_by(policy: ApprovalPolicy, **checks: ApprovalCheck) -> AgentRegistry:
    """The support desk whose refunds `policy` decides, asking `checks`."""
    tools = [
        tool(side_effects=True, approval_policy=policy)(t.fn) if t.name == "issue_refund" else t
        for t in SUPPORT_DESK.tools
    ]
    return AgentRegistry([dataclasses.replace(SUPPORT_DESK, tools=tools, approval_checks=checks)])


def ours(call: CallUnderReview) -> bool:
    """The approval check of CHECKED: the refund is for the run's customer."""
    return call.context.get("acting_for") == CUSTOMER


# The support desk whose refunds for Ada its approval policy allows, with nobody asked:
# by a rule over the run's context, or by a Python check (asked in an activity).
BY_POLICY = refunds_by(ADA_REFUNDS)
CHECKED = refunds_by(CHECKED_REFUNDS, ours=ours)


def mcp_tool(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(
        call_tools(("add_note", {"text": "buy milk"}), ("find_note", {"number": 9})),
        say("Noted: note 1."),
    )
    return AgentInput(agent="notetaker", prompt="Note: buy milk. And what is note 9?")


def with_notes(state: Path) -> AgentRegistry:
    """The notetaker, its MCP server a subprocess keeping its notes in `state`."""
    state.mkdir(exist_ok=True)
    return AgentRegistry([notetaker(stdio_notes(state, options=SIDE_EFFECTS))])


def chat(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    # Each order question takes two model calls (lookup, answer): the second message
    # reaches the limit, so the first run continues-as-new once it has answered.
    return AgentInput(
        agent="support-desk",
        acting_for=CUSTOMER,
        prompt="Where is order A-1003?",
        chat=True,
        continue_as_new_turns=3,
    )


async def chat_along(run: AgentHandle, messages: list[tuple[int, str]]) -> None:
    """Send each message once the chat's run number `runs` waits for the user; then end
    the chat."""
    for runs, text in messages:

        async def waits_for_the_user(runs: int = runs) -> bool:
            state = await run.query(AgentWorkflow.state)
            return state.status == "awaiting_user" and state.runs == runs

        await until(waits_for_the_user, f"run {runs} of the chat never waited for the user")
        await run.execute_update(AgentWorkflow.send, text)
    await run.signal(AgentWorkflow.end)


async def chat_into_a_second_run(run: AgentHandle) -> None:
    await chat_along(run, [(1, "And order A-1002?"), (2, "Thanks. And A-1004?")])


def local_model_calls(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    return AgentInput(agent="local-llm", acting_for=CUSTOMER, prompt="Where is order A-1003?")


def chat_with_tools(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    return AgentInput(
        agent="support-desk", acting_for=CUSTOMER, prompt="Where is order A-1003?", chat=True
    )


async def another_question(run: AgentHandle) -> None:
    async def waits_for_the_user() -> bool:
        return (await run.query(AgentWorkflow.state)).status == "awaiting_user"

    await until(waits_for_the_user, "the chat never answered its first message")
    await run.execute_update(AgentWorkflow.send, "And order A-1002?")
    await run.signal(AgentWorkflow.end)


def truncated_continued(llm: ScriptedLLM) -> AgentInput:
    llm.enqueue(Cut("Once upon "), say("a time."))
    return AgentInput(agent="storyteller", prompt="A story, please.")


def tools_dropped(llm: ScriptedLLM) -> AgentInput:
    llm.drops_tools = True
    llm.enqueue(say("Your order is on its way, I am sure."))
    return AgentInput(agent="support-desk", acting_for=CUSTOMER, prompt="Where is A-1003?")


def model_queue(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    return AgentInput(agent="support-desk", acting_for=CUSTOMER, prompt="Where is order A-1003?")


def responses_with_reasoning(llm: ScriptedLLM) -> AgentInput:
    def reasoning(messages: list[dict[str, Any]]) -> Step:
        step = support_desk_responder(messages)
        assert isinstance(step, Say | CallTools)
        return dataclasses.replace(step, reasoning="the customer wants the order's status")

    llm.responder = reasoning
    return AgentInput(agent="responses-desk", acting_for=CUSTOMER, prompt="Where is order A-1003?")


def streamed(llm: ScriptedLLM) -> AgentInput:
    llm.responder = support_desk_responder
    # Replies written over a second or so: their text reaches the run in signals.
    llm.chunk_delay = 0.05
    return AgentInput(agent="support-desk", acting_for=CUSTOMER, prompt="Where is order A-1003?")


# v6: the engine's own paths, with small agents of their own. A chat whose messages
# outgrow its context policy: the third turn's older messages are summarized (a model
# call of its own), and the run continues-as-new carrying only the model's view.
COMPACTOR = Agent(
    name="compactor",
    instructions="Answer briefly.",
    context=ContextPolicy(max_tokens=500, keep_recent=2),
)


def long_message(i: int) -> str:
    """About 200 tokens as the policy estimates them: three outgrow its 500."""
    return f"m-{i} " + "lorem ipsum " * 66


def compacted_chat(llm: ScriptedLLM) -> AgentInput:
    llm.responder = chatter  # echoes each message's first word; answers the summary call
    # Three turns and the summary make four model calls: then the run continues-as-new.
    return AgentInput(agent="compactor", prompt=long_message(0), chat=True, continue_as_new_turns=4)


async def three_more_messages(run: AgentHandle) -> None:
    await chat_along(run, [(1, long_message(1)), (1, long_message(2)), (2, long_message(3))])


def deadline_during_approval(llm: ScriptedLLM) -> AgentInput:
    # Nobody decides: the deadline (an hour) comes before the approval's timeout (a day).
    return refund_waiting_for_a_person(llm).model_copy(update={"deadline_seconds": 3600})


# A lead agent hands a task to a helper, which runs as a child AgentWorkflow.
HELPER = Agent(name="helper", instructions="You are the helper. Do the task you are given.")
LEAD = Agent(
    name="lead",
    instructions="You are the lead. Hand research to the helper.",
    tools=[subagent("helper", "Ask the helper agent to do a task; returns its answer.")],
)


def lead_and_helper(llm: ScriptedLLM) -> AgentInput:
    def respond(messages: list[dict[str, object]]) -> Step:
        if messages[0]["content"] == HELPER.instructions:
            return say("The answer is 42.")
        results = [m["content"] for m in messages if m["role"] == "tool"]
        if not results:
            return call_tools(("ask_helper", {"task": "Find the answer to everything."}))
        return say(f"The helper says: {results[-1]}")

    llm.responder = respond
    return AgentInput(agent="lead", prompt="What is the answer?")


def which_order(llm: ScriptedLLM) -> AgentInput:
    llm.responder = pick_order_script
    return AgentInput(agent="order-picker", prompt="My order arrived broken.")


async def answer_which_order(run: AgentHandle) -> None:
    (question,) = await question_asked(run)
    await run.execute_update(AgentWorkflow.answer, signed_answer(run, question, ORDERS[1]))


# A chat message whose answer takes 10 s: the person interrupts it.
SLOW_QUESTION = "Tell me everything about all my orders."
STEER = "Forget that. Where is order A-1002?"


def chat_with_a_slow_answer(llm: ScriptedLLM) -> AgentInput:
    def respond(messages: list[dict[str, Any]]) -> Step:
        if messages[-1]["content"] == SLOW_QUESTION:
            return Slow(10.0, say("The abandoned answer."))
        return support_desk_responder(messages)

    started = chat_with_tools(llm)
    llm.responder = respond
    return started


async def interrupt_the_slow_answer(run: AgentHandle) -> None:
    """Ask the slow question once the first is answered, interrupt its model call with
    another question, then end the chat."""
    answered = await first(
        lambda: run.query(AgentWorkflow.state),
        lambda state: state.status == "awaiting_user",
        "the chat never answered its first message",
    )
    sending = asyncio.create_task(run.execute_update(AgentWorkflow.send, SLOW_QUESTION))
    await first(
        lambda: run.query(AgentWorkflow.state),
        lambda state: state.status == "running" and state.turn > answered.turn,
        "the chat never asked the slow question",
    )
    await run.execute_update(AgentWorkflow.interrupt, STEER)
    await sending
    await run.signal(AgentWorkflow.end)


async def interrupt_the_approval(run: AgentHandle) -> None:
    await wait_for_approvals(run)
    await run.execute_update(AgentWorkflow.interrupt, None)


@dataclass(frozen=True)
class Scenario:
    """A run to record: its input (scripting the model on the way), the agents that
    serve it (or how to make them, given a directory of the scenario's own), and what a
    person does while it runs."""

    start: Callable[[ScriptedLLM], AgentInput | RefundTicket]
    agents: AgentRegistry | Callable[[Path], AgentRegistry] = AGENTS
    person: Callable[[AgentHandle], Awaitable[object]] | None = None
    watched: bool = False  # started with a subscriber's announcement (streams its text)
    tuning: WorkerTuning = SDK_DEFAULTS


SCENARIOS: dict[str, Scenario] = {
    "multi-tool": Scenario(multi_tool),
    "parallel-and-bad-calls": Scenario(parallel_and_bad_calls),
    "structured-output-repaired": Scenario(structured_output_repaired),
    "fallback-after-errors": Scenario(fallback_after_errors),
    "max-turns": Scenario(max_turns),
    # The real support desk: its refunds wait for the person the scenario plays.
    "approval-granted": Scenario(refund_waiting_for_a_person, REGISTRY, approve),
    "approval-rejected": Scenario(refund_waiting_for_a_person, REGISTRY, reject),
    "continue-as-new": Scenario(chat, person=chat_into_a_second_run),
    "pipeline-refund": Scenario(pipeline_refund, REGISTRY),
    "local-model-calls": Scenario(local_model_calls),
    "chat-with-tools": Scenario(chat_with_tools, person=another_question),
    # Tools from an MCP server (tests/support/mcp_server.py over stdio): `tether.mcp_tool` calls.
    "mcp-tool": Scenario(mcp_tool, with_notes),
    # v4: decisions bound to the arguments shown (a digest), by a named approver.
    "approval-by-named-approver": Scenario(refund_for_a_named_approver, GUARDED, named_approver),
    "duplicate-keys-refused": Scenario(duplicate_keys, REGISTRY),
    "pipeline-approval": Scenario(pipeline_approval, REGISTRY, approve_the_pipelines_refund),
    "streamed": Scenario(streamed, watched=True),
    # v6: context compaction with a summary, carried over; a deadline; a sub-agent.
    "context-compacted": Scenario(compacted_chat, AgentRegistry([COMPACTOR]), three_more_messages),
    "deadline-during-approval": Scenario(deadline_during_approval, REGISTRY),
    "subagent": Scenario(lead_and_helper, AgentRegistry([LEAD, HELPER])),
    # v7: a reply cut at its length limit, continued; a model server that drops tools;
    # calls waiting for a worker's model slot; the Responses API with reasoning items.
    "truncated-continued": Scenario(truncated_continued),
    "tools-dropped": Scenario(tools_dropped),
    "model-queue": Scenario(model_queue, tuning=WorkerTuning(max_concurrent_llm_calls=1)),
    "responses-with-reasoning": Scenario(responses_with_reasoning),
    # v8: approval policies: a rule lets a refund run, or a Python check does; a judge
    # model approves one, and refuses another, which a person then approves.
    "approval-by-policy": Scenario(refund_waiting_for_a_person, BY_POLICY),
    "approval-by-check": Scenario(refund_waiting_for_a_person, CHECKED),
    "pipeline-judged": Scenario(pipeline_judged, REGISTRY),
    "pipeline-judge-escalated": Scenario(
        pipeline_judge_escalated, REGISTRY, approve_the_pipelines_refund
    ),
    # A question to a person (ask_person) with two choices: answered, or nobody answers
    # within its two hours.
    "question-answered": Scenario(which_order, QUESTIONS, answer_which_order),
    "question-unanswered": Scenario(which_order, QUESTIONS),
    # A chat's model call interrupted with another question; a one-shot run's call
    # waiting for approval withdrawn by an interrupt without a message.
    "interrupted-chat": Scenario(chat_with_a_slow_answer, person=interrupt_the_slow_answer),
    "interrupted-approval": Scenario(refund_waiting_for_a_person, REGISTRY, interrupt_the_approval),
}


async def record(client: Client, name: str, scenario: Scenario, state: Path) -> None:
    agents = scenario.agents
    if not isinstance(agents, AgentRegistry):
        agents = agents(state)
    with ScriptedLLM() as llm:
        params = scenario.start(llm)
        if isinstance(params, AgentInput) and params.generation is None:
            params = params.model_copy(update={"generation": INPUT_GENERATION})
        async with worker(client, agents, llm, tuning=scenario.tuning) as w:
            handle: AgentHandle | WorkflowHandle[RefundPipelineWorkflow, RefundResult]
            if isinstance(params, AgentInput):
                handle = await client.start_workflow(
                    AgentWorkflow.run,
                    params,
                    id=name,
                    task_queue=w.task_queue,
                    start_signal=WATCH_SIGNAL if scenario.watched else None,
                )
            else:
                handle = await client.start_workflow(
                    RefundPipelineWorkflow.run, params, id=name, task_queue=w.task_queue
                )
            if scenario.person is not None:  # both answer `state` and take `decide`
                await scenario.person(handle)  # type: ignore[arg-type]
            await handle.result()  # follows the run through continue-as-new
            histories = await runs_of(client, name, handle.result_run_id)
    for i, history in enumerate(histories, 1):
        path = (
            HERE / GENERATION / (f"{name}.json" if len(histories) == 1 else f"{name}-run{i}.json")
        )
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(history.to_json_dict(), indent=1) + "\n")
        print(f"recorded {path.relative_to(HERE.parent.parent)} ({len(history.events)} events)")


async def runs_of(client: Client, workflow_id: str, run_id: str | None) -> list[WorkflowHistory]:
    """The history of the run `run_id` and of each run it continued as."""
    histories = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        ended = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = ended.new_execution_run_id  # empty unless the run continued-as-new
    return histories


async def main(names: list[str]) -> None:
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    with tempfile.TemporaryDirectory() as tmp:
        async with await WorkflowEnvironment.start_time_skipping(
            data_converter=TETHER_CONVERTER,
            test_server_existing_path=binary("temporal-test-server"),
        ) as env:
            for name in names or SCENARIOS:
                # A fresh shop per scenario: none depends on what another refunded.
                os.environ["TETHER_SHOP_DB"] = str(Path(tmp) / f"{name}.db")
                await record(env.client, name, SCENARIOS[name], Path(tmp) / name)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
