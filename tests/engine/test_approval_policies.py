"""Approval policies on the order desk's refunds: a rule allows a call, denies it (the
model is told why), asks a person, or asks a judge model (which approves, or escalates
to a person when it refuses, is unsure, answers no verdict or cannot be asked). Every
automatic decision is recorded like a person's: in the tool activity's input (the rule,
the digest), the run's state, its events and the transcript.

The time-skipping server runs them; the model and the judge are the scripted server.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.approvals import APPROVER, approval
from tests.support.history_reading import scheduled_inputs
from tests.support.ledger import CUSTOMER, connect, count_rows
from tests.support.order_desk import ORDER_DESK, order_desk_script
from tests.support.waiting import until
from tether import Agent, AgentResult, AgentRun, tool
from tether._arguments import digest_of
from tether._wire import (
    CHECK_ACTIVITY,
    JUDGE_ACTIVITY,
    TOOL_ACTIVITY,
    CheckRequest,
    JudgeRequest,
    ToolRequest,
)
from tether.approvals import (
    ApprovalCheck,
    ApprovalPolicy,
    CallUnderReview,
    Condition,
    Judge,
    PolicyVerdict,
    Rule,
    arg,
    check,
    context,
)
from tether.events import ApprovalDecided, ApprovalWaiting, RunEvent
from tether.testing import (
    Fail,
    Garbage,
    Responder,
    ScriptedLLM,
    Step,
    say,
    wait_for_approvals,
    worker,
)
from tether.worker import ModelPrice, PriceTable
from tether.workflow import AgentWorkflow

REFUND_PROMPT = "Order A-1001 arrived broken, I want my money back."
Handle = WorkflowHandle[AgentWorkflow, AgentResult]
JUDGE = Judge(name="refund-judge", max_attempts=2)
PRICES = PriceTable(prices={"tether-scripted": ModelPrice(input=1.0, output=1.0)})


def verdict(said: str, reasoning: str = "a broken teapot is worth $42") -> Responder:
    """A judge that answers `said` (approve, refuse, unsure) to every call."""

    def judge(messages: list[dict[str, Any]]) -> Step:
        return say(json.dumps({"verdict": said, "reasoning": reasoning}))

    return judge


@dataclasses.dataclass
class Ran:
    run: AgentRun
    llm: ScriptedLLM
    events: list[RunEvent]

    @property
    def handle(self) -> Handle:
        return self.run.handle

    def told(self) -> str:
        """What the model was told of the refund: the tool message after its call."""
        requests = [r for r in self.llm.requests if r.agent == ORDER_DESK.name]
        messages = requests[-1].messages
        ids = [c["id"] for m in messages for c in m.get("tool_calls") or []
               if c["function"]["name"] == "issue_refund"]  # fmt: skip
        (result,) = [m for m in messages if m["role"] == "tool" and m["tool_call_id"] in ids]
        return str(result["content"])


@asynccontextmanager
async def desk_run(
    env: WorkflowEnvironment,
    policy: ApprovalPolicy,
    judge: Responder | Step | None = None,
    checks: Mapping[str, ApprovalCheck] | None = None,
) -> AsyncIterator[Ran]:
    """An order-desk run whose refunds `policy` decides (with `checks`); `judge` plays
    its judge model; every call costs $1 per million tokens."""
    scripts: dict[str, Responder] = {ORDER_DESK.name: order_desk_script}
    if judge is not None:
        scripts[JUDGE.name] = judge if callable(judge) else (lambda _: judge)
    desk = dataclasses.replace(ORDER_DESK, approval_policy=policy, approval_checks=checks or {})
    with ScriptedLLM(scripts=scripts) as llm:
        async with worker(env.client, desk, llm, prices=PRICES) as w:
            run = await AgentRun.start(
                env.client, desk, REFUND_PROMPT, task_queue=w.task_queue, acting_for=CUSTOMER
            )
            yield Ran(run, llm, [])


async def finished(ran: Ran) -> AgentResult:
    """The run's result, and its events (read once it ended) into `ran`."""
    result = await ran.handle.result()
    ran.events = [e async for e in ran.run.events()]
    return result


def decided(ran: Ran) -> ApprovalDecided:
    (event,) = [e for e in ran.events if isinstance(e, ApprovalDecided)]
    return event


async def test_a_rule_that_allows_lets_the_call_run_with_nobody_asked_and_records_it(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    policy = ApprovalPolicy(
        rules=[Rule.allow("this customer's refunds", context("acting_for").equals(CUSTOMER))]
    )
    async with desk_run(ts_env, policy) as ran:
        result = await finished(ran)
        state = await ran.handle.query(AgentWorkflow.state)
        (request,) = [
            r
            for r in await scheduled_inputs(ran.handle, TOOL_ACTIVITY, ToolRequest)
            if r.call.name == "issue_refund"
        ]

    assert result.status == "completed" and count_rows(ledger, "refunds") == 1
    # Recorded as a person's decision is: in the tool activity's input, in history,
    # bound to the digest of the arguments that ran, naming the rule.
    approval_taken = request.approval
    assert approval_taken is not None and approval_taken.approve
    assert approval_taken.digest == digest_of(request.call.arguments)
    assert approval_taken.policy == PolicyVerdict(rule="this customer's refunds", action="allow")
    assert approval_taken.approver is None and approval_taken.signature is None
    with connect(ledger) as db:
        (row,) = db.execute("SELECT arguments_digest FROM refunds").fetchall()
    assert row["arguments_digest"] == approval_taken.digest
    (taken,) = state.decisions
    assert (taken.tool, taken.approved, taken.decided_by) == (
        "issue_refund", True, "policy (this customer's refunds)"
    )  # fmt: skip
    assert taken.digest == approval_taken.digest and state.pending_approvals == []
    event = decided(ran)
    assert event.approved and event.decided_by == "policy (this customer's refunds)"
    assert not any(isinstance(e, ApprovalWaiting) for e in ran.events)
    assert ran.told().startswith("Approved by the approval policy: policy (this customer's")


async def test_a_rule_that_denies_tells_the_model_its_reason_and_nothing_runs(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    policy = ApprovalPolicy(
        rules=[
            Rule.deny("teapots under review", arg("order_id").equals("A-1001"), reason="ask Ada"),
            Rule.allow("the rest"),
        ]
    )
    async with desk_run(ts_env, policy) as ran:
        result = await finished(ran)
        state = await ran.handle.query(AgentWorkflow.state)

    assert result.status == "completed" and count_rows(ledger, "refunds") == 0
    assert ran.told() == (
        "Error: not done. The approval policy refused this call (rule 'teapots under "
        "review'): ask Ada."
    )
    (taken,) = state.decisions
    assert not taken.approved and taken.decided_by == "policy (teapots under review)"
    assert taken.policy is not None and taken.policy.action == "deny"
    event = decided(ran)
    assert not event.approved and event.reason == "ask Ada"


async def test_a_rule_that_asks_a_person_shows_the_rule_with_the_waiting_call(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    policy = ApprovalPolicy(
        rules=[
            Rule.allow("other orders", arg("order_id").differs("A-1001")),
            Rule.ask_person("teapots"),
        ],
        otherwise="deny",
    )
    async with desk_run(ts_env, policy) as ran:
        (pending,) = await wait_for_approvals(ran.handle)
        await ran.handle.execute_update(AgentWorkflow.decide, approval(ran.handle, pending))
        result = await finished(ran)
        state = await ran.handle.query(AgentWorkflow.state)

    assert pending.policy == PolicyVerdict(rule="teapots", action="ask_person")
    assert result.status == "completed" and count_rows(ledger, "refunds") == 1
    (taken,) = state.decisions
    assert taken.decided_by == APPROVER and taken.policy == pending.policy
    event = decided(ran)
    assert event.decided_by == APPROVER and event.policy == pending.policy
    (waiting,) = [e for e in ran.events if isinstance(e, ApprovalWaiting)]
    assert waiting.policy == pending.policy


async def test_a_judge_that_approves_lets_the_call_run_and_its_reasoning_is_recorded(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    policy = ApprovalPolicy(rules=[Rule.ask_judge("refunds")], judge=JUDGE)
    async with desk_run(ts_env, policy, verdict("approve")) as ran:
        result = await finished(ran)
        state = await ran.handle.query(AgentWorkflow.state)
        (asked,) = await scheduled_inputs(ran.handle, JUDGE_ACTIVITY, JudgeRequest)

    assert result.status == "completed" and count_rows(ledger, "refunds") == 1
    (taken,) = state.decisions
    assert taken.approved and taken.decided_by == "judge (refunds)"
    assert taken.policy is not None and taken.policy.judge is not None
    assert taken.policy.judge.verdict == "approve"
    assert taken.policy.judge.reasoning == "a broken teapot is worth $42"
    assert taken.reason == "a broken teapot is worth $42"
    # The judge was shown the call as it would run, and the run's context.
    question = json.loads(asked.question)
    assert question["tool"] == "issue_refund" and question["rule"] == "refunds"
    assert question["arguments"]["order_id"] == "A-1001"
    assert question["context"]["acting_for"] == CUSTOMER
    (judge_request,) = [r for r in ran.llm.requests if r.agent == JUDGE.name]
    assert judge_request.body["response_format"]["json_schema"]["name"] == "Verdict"
    # Its tokens and their cost count as the run's.
    assert result.usage.total_tokens == sum(ran.llm.reported_total_tokens)
    assert result.cost_usd == pytest.approx(sum(ran.llm.reported_total_tokens) / 1e6)
    assert ran.told().startswith("Approved by the approval policy: judge (refunds)")


@pytest.mark.parametrize(
    ("judge", "seen", "why"),
    [
        (verdict("refuse", "too much for a teapot"), "refuse", "too much for a teapot"),
        (verdict("unsure", "cannot tell"), "unsure", "cannot tell"),
        (say("Sure, go ahead!"), "invalid", "the judge's reply is no verdict: Sure, go ahead!"),
        (say('{"verdict": "maybe", "reasoning": 1}'), "invalid", "the judge's reply is no"),
        (Garbage(), "failed", "the judge could not be asked (MalformedResponse)"),
        (Fail(500), "failed", "the judge could not be asked (ProviderUnavailable)"),
    ],
    ids=["refuses", "unsure", "prose", "bad-verdict", "garbage", "server-down"],
)
async def test_a_judge_that_does_not_approve_escalates_to_a_person(
    ts_env: WorkflowEnvironment, ledger: Path, judge: Responder | Step, seen: str, why: str
) -> None:
    policy = ApprovalPolicy(rules=[Rule.ask_judge("refunds")], judge=JUDGE)
    async with desk_run(ts_env, policy, judge) as ran:
        (pending,) = await wait_for_approvals(ran.handle)
        await ran.handle.execute_update(
            AgentWorkflow.decide, approval(ran.handle, pending, approve=False, reason="no")
        )
        result = await finished(ran)
        state = await ran.handle.query(AgentWorkflow.state)

    assert pending.policy is not None and pending.policy.judge is not None
    assert pending.policy.judge.verdict == seen
    assert pending.policy.judge.reasoning.startswith(why)
    assert result.status == "completed" and count_rows(ledger, "refunds") == 0
    (taken,) = state.decisions
    assert not taken.approved and taken.decided_by == APPROVER
    assert ran.told() == "Error: not done. A person rejected this call: no."


async def test_nobody_may_send_a_decision_that_says_the_policy_took_it(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    policy = ApprovalPolicy(rules=[Rule.ask_person("all")])
    async with desk_run(ts_env, policy) as ran:
        (pending,) = await wait_for_approvals(ran.handle)
        claimed = PolicyVerdict(rule="all", action="allow")
        forged = approval(ran.handle, pending).model_copy(update={"policy": claimed})
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await ran.handle.execute_update(AgentWorkflow.decide, forged)
        # Nor may a person sign as the policy, which its status would show as one.
        posing = approval(ran.handle, pending, approver="policy (all)")
        with pytest.raises(WorkflowUpdateFailedError) as posed:
            await ran.handle.execute_update(AgentWorkflow.decide, posing)
        await ran.handle.execute_update(AgentWorkflow.decide, approval(ran.handle, pending))
        result = await finished(ran)

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "a decision may not name a policy: the run's policy takes its own"
    cause = posed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "'policy (all)' names the run's own policy, not a person"
    assert result.status == "completed"
    assert decided(ran).decided_by == APPROVER


async def test_a_run_keeps_the_policy_it_started_with_when_a_worker_brings_another(
    dev_env: WorkflowEnvironment, ledger: Path
) -> None:
    """A chat started while refunds were paused asks for one after a deploy that allows
    them: its recorded policy decides, while a run started after the deploy refunds. (On
    the dev server: the time-skipping one hands the chat's next task to the stopped
    worker's sticky queue, and does not time it out while nothing awaits a result.)"""
    paused = ApprovalPolicy(rules=[Rule.deny("refunds paused", reason="refunds are paused")])
    allowed = ApprovalPolicy(rules=[Rule.allow("refunds on")])
    before = dataclasses.replace(ORDER_DESK, approval_policy=paused)
    after = dataclasses.replace(ORDER_DESK, approval_policy=allowed)
    queue = f"redeployed-{uuid.uuid4().hex[:8]}"
    with ScriptedLLM(order_desk_script) as llm:
        async with worker(dev_env.client, before, llm, queue=queue):
            chat = await AgentRun.start(
                dev_env.client, before, "Where is my order A-1003?", task_queue=queue,
                acting_for=CUSTOMER, chat=True,
            )  # fmt: skip

            async def answered() -> bool:
                return (await chat.state()).status == "awaiting_user"

            await until(answered, "the chat never answered its first message")
        async with worker(dev_env.client, after, llm, queue=queue):
            told = await chat.send(REFUND_PROMPT)
            await chat.end()
            kept = await chat.result()
            fresh = await AgentRun.start(
                dev_env.client, after, REFUND_PROMPT, task_queue=queue, acting_for=CUSTOMER
            )
            deployed = await fresh.result()
            kept_state = await chat.handle.query(AgentWorkflow.state)

    assert kept.status == "completed" and "refunds are paused" in told
    assert [d.decided_by for d in kept_state.decisions] == ["policy (refunds paused)"]
    assert deployed.status == "completed" and "refunded $42.00" in str(deployed.answer)
    assert count_rows(ledger, "refunds") == 1  # the fresh run's, not the chat's


def is_this_customer(call: CallUnderReview) -> bool:
    return call.context.get("acting_for") == CUSTOMER and call.tool == "issue_refund"


@pytest.mark.parametrize(
    ("rules", "checks_asked", "decided_by"),
    [
        ([Rule.allow("this customer", check("ours"))], 1, "policy (this customer)"),
        # A rule before it decides: the check is never asked.
        (
            [
                Rule.allow("teapots", arg("order_id").equals("A-1001")),
                Rule.deny("not ours", check("ours"), reason="no"),
            ],
            0,
            "policy (teapots)",
        ),
    ],
    ids=["asked", "not-reached"],
)
async def test_a_rule_asks_the_agents_python_check_in_an_activity_when_it_is_reached(
    ts_env: WorkflowEnvironment,
    ledger: Path,
    rules: list[Rule],
    checks_asked: int,
    decided_by: str,
) -> None:
    policy = ApprovalPolicy(rules=rules)
    async with desk_run(ts_env, policy, checks={"ours": is_this_customer}) as ran:
        result = await finished(ran)
        asked = await scheduled_inputs(ran.handle, CHECK_ACTIVITY, CheckRequest)

    assert result.status == "completed" and count_rows(ledger, "refunds") == 1
    assert decided(ran).decided_by == decided_by
    assert len(asked) == checks_asked
    for request in asked:  # what the check saw, recorded
        assert (request.check, request.call.tool) == ("ours", "issue_refund")
        assert request.call.arguments["order_id"] == "A-1001"
        assert request.call.context["acting_for"] == CUSTOMER


async def test_a_check_that_cannot_answer_asks_a_person(
    ts_env: WorkflowEnvironment, ledger: Path
) -> None:
    policy = ApprovalPolicy(rules=[Rule.allow("ours", check("ours"))], otherwise="deny")
    answers_no_bool = {"ours": lambda call: "yes"}  # a bug: not a bool
    async with desk_run(ts_env, policy, checks=answers_no_bool) as ran:  # type: ignore[arg-type]
        (pending,) = await wait_for_approvals(ran.handle)
        await ran.handle.execute_update(AgentWorkflow.decide, approval(ran.handle, pending))
        result = await finished(ran)

    assert pending.policy == PolicyVerdict(
        rule="ours",
        action="ask_person",
        reason="the check 'ours' could not be asked (InvalidCheck)",
    )
    assert result.status == "completed" and count_rows(ledger, "refunds") == 1


def test_an_agent_registers_every_check_its_policies_ask() -> None:
    policy = ApprovalPolicy(rules=[Rule.allow("vip", check("is_vip"))])
    with pytest.raises(ValueError, match=r"ask the checks \['is_vip'\], which approval_checks"):
        dataclasses.replace(ORDER_DESK, approval_policy=policy)
    dataclasses.replace(ORDER_DESK, approval_policy=policy, approval_checks={"is_vip": bool})


def test_a_policy_is_checked_when_it_is_built() -> None:
    with pytest.raises(ValueError, match="give the policy a judge"):
        ApprovalPolicy(rules=[Rule.ask_judge("refunds")])
    with pytest.raises(ValueError, match="two rules share a name"):
        ApprovalPolicy(rules=[Rule.allow("a"), Rule.deny("a", reason="no")])
    with pytest.raises(ValueError, match="names what no rule matches"):
        ApprovalPolicy(rules=[Rule.allow("otherwise")])
    with pytest.raises(ValueError, match="compares with a list"):
        Condition(path="arguments.a", op="in", value="abc")
    with pytest.raises(ValueError, match="pattern"):
        Condition(path="amount", op="lt", value=1)  # neither arguments nor context


@pytest.mark.parametrize(
    ("condition", "arguments", "holds"),
    [
        (arg("amount") < 50, {"amount": 49.99}, True),
        (arg("amount") < 50, {"amount": 50}, False),
        (arg("amount") < 50, {}, False),  # missing: the rule does not match
        (arg("amount") < 50, {"amount": "10"}, False),  # a string is no number
        (arg("amount") < 50, {"amount": True}, False),  # nor is a boolean
        (arg("order.id").equals("A-1"), {"order": {"id": "A-1"}}, True),
        (arg("order_id").among(["A-1", "A-2"]), {"order_id": "A-2"}, True),
        (arg("order_id").not_among(["A-1"]), {"order_id": "A-2"}, True),
        (arg("order_id").not_among(["A-1"]), {}, False),
        (arg("order_id").differs("A-1"), {}, False),
    ],
)
def test_conditions_hold_only_for_present_values_of_the_same_kind(
    condition: Any, arguments: dict[str, Any], holds: bool
) -> None:
    assert condition.holds({"arguments": arguments, "context": {}}) is holds


def test_the_first_rule_that_matches_decides_and_a_rule_may_name_its_tools() -> None:
    policy = ApprovalPolicy(
        rules=[
            Rule.deny("no big refunds", arg("amount") > 100, tools=["refund"], reason="no"),
            Rule.allow("small things", arg("amount") < 1_000),
        ],
        otherwise="deny",
    )
    big = {"arguments": {"amount": 500}, "context": {}}
    assert policy.decide("refund", big) == ("no big refunds", "deny", "no")
    assert policy.decide("credit", big) == ("small things", "allow", None)
    assert policy.decide("credit", {"arguments": {}, "context": {}}) == (
        "otherwise", "deny", None
    )  # fmt: skip


def test_a_tools_own_policy_comes_before_its_agents() -> None:
    own = ApprovalPolicy(rules=[Rule.allow("the tool's")])
    agents = ApprovalPolicy(rules=[Rule.ask_person("the agent's")])

    @tool(side_effects=True, approval_policy=own)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return order_id

    @tool(side_effects=True, needs_approval=True)
    def cancel(order_id: str) -> str:
        """Cancel an order."""
        return order_id

    @tool(side_effects=True)
    def note(text: str) -> str:
        """Write a note."""
        return text

    spec = Agent(
        name="desk", instructions="...", tools=[refund, cancel, note], approval_policy=agents
    ).spec("m")
    assert [(t.name, t.gated, spec.policy_for(t)) for t in spec.tools] == [
        ("refund", True, own),  # its own policy gates it, without needs_approval
        ("cancel", True, agents),
        ("note", False, None),  # no approval: no policy
    ]
