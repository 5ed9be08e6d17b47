"""Approval policies in a run (workflow code: deterministic, no I/O).

A call of a tool with an approval policy is decided here before anyone is asked: the
first rule that matches its validated arguments and the run's context decides, from
data the run recorded (its agent's spec, the call's arguments, the facts its code
passes), so a replay decides it again the same way. A rule that asks the policy's judge
model runs one activity (`tether.judge`), whose verdict and reasoning land in history;
a judge that cannot be asked, or whose reply is no verdict, counts as unsure, and only
an approval lets the call run without a person. The decision itself is taken by the run:
`Approvals` records it like a person's, bound to the same digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from tether._approval_policy import ApprovalPolicy, CallUnderReview, Judge, NeedsCheck
    from tether._failures import root_type
    from tether._messages import ToolCall
    from tether._run_io import JudgeVerdict, PolicyVerdict
    from tether._wire import (
        CHECK_ACTIVITY,
        JUDGE_ACTIVITY,
        CheckReply,
        CheckRequest,
        JudgeReply,
        JudgeRequest,
    )

from tether._workflows.activity_calls import DEFAULT_HEARTBEAT_TIMEOUT_SECONDS, execute


@dataclass(frozen=True)
class PolicyGate:
    """A call's approval policy, and what it decides with besides the call: the run's
    facts (`context.*` in rules), the agent (whose model a judge without one asks) and
    where the judge's tokens and cost count."""

    policy: ApprovalPolicy
    agent: str
    model: str
    description: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    on_reply: Callable[[JudgeReply], None] = lambda _: None

    async def decide(self, call: ToolCall, arguments: dict[str, Any]) -> PolicyVerdict:
        """What the policy decides on `call`, whose arguments the tool's schema validated."""
        asked: dict[str, bool] = {}
        context = {"tool": call.name, **self.facts}
        values = {"arguments": arguments, "context": context, "checks": asked}
        decided = self.policy.decide(call.name, values)
        while isinstance(decided, NeedsCheck):  # each check asked once, when reached
            review = CallUnderReview(tool=call.name, arguments=arguments, context=context)
            answer = await self._check(decided, review)
            if isinstance(answer, PolicyVerdict):
                return answer
            asked[decided.check] = answer
            decided = self.policy.decide(call.name, values)
        rule, action, reason = decided
        verdict = PolicyVerdict(rule=rule, action=action, reason=reason)
        if action != "ask_judge":
            return verdict
        assert self.policy.judge is not None  # the policy's validator saw to it
        judged = await self._judge(self.policy.judge, call, arguments, rule)
        return verdict.model_copy(update={"judge": judged})

    async def _check(self, needed: NeedsCheck, review: CallUnderReview) -> bool | PolicyVerdict:
        """The agent's answer to `needed`'s check, or, if it could not be asked (a worker
        without it, a check that kept raising), a person decides."""
        try:
            reply = await execute(
                CHECK_ACTIVITY,
                CheckRequest(agent=self.agent, check=needed.check, call=review),
                result_type=CheckReply,
                local=False,
                start_to_close=timedelta(seconds=60),
                heartbeat=timedelta(seconds=DEFAULT_HEARTBEAT_TIMEOUT_SECONDS),
                retry=RetryPolicy(maximum_attempts=3),
                summary=f"check {needed.check} · {review.tool} ({needed.rule})"[:200],
            )
        except ActivityError as e:
            if is_cancelled_exception(e):
                raise
            why = f"the check {needed.check!r} could not be asked ({root_type(e)})"
            return PolicyVerdict(rule=needed.rule, action="ask_person", reason=why)
        return reply.holds

    async def _judge(
        self, judge: Judge, call: ToolCall, arguments: dict[str, Any], rule: str
    ) -> JudgeVerdict:
        model = judge.model or self.model
        question = {
            "tool": call.name,
            "description": self.description,
            "arguments": arguments,
            "context": dict(self.facts),
            "rule": rule,
        }
        request = JudgeRequest(
            agent=self.agent,
            judge=judge.name,
            model=model,
            instructions=judge.instructions,
            question=json.dumps(question, sort_keys=True, default=str),
            timeout_seconds=judge.timeout.total_seconds(),
        )
        try:
            reply = await execute(
                JUDGE_ACTIVITY,
                request,
                result_type=JudgeReply,
                local=False,
                start_to_close=judge.timeout,
                # A worker lost mid-call costs the run this long, not the judge's timeout.
                heartbeat=timedelta(seconds=DEFAULT_HEARTBEAT_TIMEOUT_SECONDS),
                retry=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(seconds=30),
                    maximum_attempts=judge.max_attempts,
                ),
                summary=f"judge {judge.name} · {call.name} ({rule})"[:200],
            )
        except ActivityError as e:
            if is_cancelled_exception(e):
                raise
            # No verdict is an unsure one: the call waits for a person, the run goes on.
            why = f"the judge could not be asked ({root_type(e)})"
            return JudgeVerdict(verdict="failed", reasoning=why, model=model)
        self.on_reply(reply)
        return reply.verdict
