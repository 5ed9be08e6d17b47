"""Approval policies: rules that decide a tool's calls before a person is asked.

    from tether import Agent
    from tether.approvals import ApprovalPolicy, Judge, Rule, arg

    REFUNDS = ApprovalPolicy(
        rules=[
            Rule.deny("no refunds for others", arg("customer").differs("me"), reason="..."),
            Rule.allow("small refunds", arg("amount") < 50),
            Rule.ask_person("large refunds", arg("amount") > 500),
            Rule.ask_judge("other refunds"),
        ],
        judge=Judge(model="gpt-4o-mini"),
    )
    DESK = Agent(name="desk", instructions="...", tools=[refund], approval_policy=REFUNDS)

A policy is data: a run records it with its agent's spec and keeps it to the end, and a
replay decides every call again as it was decided. A rule that needs Python asks one of
the agent's `approval_checks` by name (`check("is_vip")`), in an activity whose answer
history keeps. Each automatic decision is recorded
like a person's (`PolicyVerdict`: the rule, the judge's verdict), bound to the digest of
the arguments it let run; `tether status`, the transcript, the events and the web UI
show it.

A question the agent asks a person (`tether.ask_person`) waits as a `PendingQuestion`
and is answered by a `QuestionAnswer` (`AgentRun.answer`), proven like a decision.
"""

from __future__ import annotations

from tether._approval_policy import (
    Action,
    ApprovalCheck,
    ApprovalPolicy,
    CallUnderReview,
    Condition,
    Judge,
    NeedsCheck,
    Rule,
    Value,
    arg,
    check,
    context,
)
from tether._public import rehome_all
from tether._run_io import (
    DecidedCall,
    JudgeVerdict,
    PendingQuestion,
    PolicyVerdict,
    QuestionAnswer,
)

__all__ = [
    "Action",
    "ApprovalCheck",
    "ApprovalPolicy",
    "CallUnderReview",
    "Condition",
    "DecidedCall",
    "Judge",
    "JudgeVerdict",
    "NeedsCheck",
    "PendingQuestion",
    "PolicyVerdict",
    "QuestionAnswer",
    "Rule",
    "Value",
    "arg",
    "check",
    "context",
]
rehome_all(globals(), __all__)
