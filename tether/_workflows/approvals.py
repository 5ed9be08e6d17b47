"""Human approval of tool calls (workflow code: deterministic, no I/O).

A call of a `needs_approval` tool waits here for a decision delivered by the workflow's
`decide` update. Before anyone is asked, its arguments are parsed strictly and checked
against the tool's schema (a bad call goes back to the model, nobody is asked), and the
person is shown them written out again, with their digest. The update's validator runs
`Approvals.check`, so a decision is refused before it reaches history when it is for an
unknown or already decided call, for other arguments than those shown (its digest),
without a signature by a key the run trusts for its approver (see tether/_signing.py),
by someone the agent (or a parent run) does not list as an approver, by the run's stated
starter, or with edited arguments the tool's schema refuses. The wait is a durable timer: with no
decision in time the call counts as rejected, and in every case the model is told what
happened as that call's result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether import _arguments
    from tether._events import ARGUMENTS_CHARS, ApprovalDecided, ApprovalWaiting, Event
    from tether._messages import ToolCall
    from tether._run_io import ApprovalDecision, DecidedCall, PendingApproval, PolicyVerdict
    from tether._signing import check_signature
    from tether._tools import invalid_arguments
    from tether._validation import json_object
    from tether._visibility import approval_summary
    from tether._wire import ToolOutcome

from tether._workflows.generations import REUSED_CALL_IDS
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
from tether._workflows.policy_gate import PolicyGate

# How the run names who took the decisions it took itself (PolicyVerdict.decider).
RUN_DECIDERS = ("policy (", "judge (")
# How many of a run's latest decisions its state shows.
DECISIONS_KEPT = 100


class Approvals:
    """The calls waiting for a human, and the decisions taken in this run."""

    def __init__(self, on_change: Callable[[], None], publish: Callable[[Event], None]) -> None:
        self._pending: dict[str, PendingApproval] = {}
        self._rules: dict[str, Rules] = {}
        self._decided: dict[str, ApprovalDecision] = {}
        self.taken: list[DecidedCall] = []  # the latest decisions of this run, in order
        # The workflow keeps its status and search attributes current through this,
        self._on_change = on_change
        # its event feed through this,
        self._publish = publish
        # Whether this run's code path gives a reused call id its own decision (see
        # generations.REUSED_CALL_IDS); a workflow whose runs know it sets its own.
        self.reused_call_ids: Callable[[], bool] = lambda: workflow.patched(REUSED_CALL_IDS)

    @property
    def pending(self) -> list[PendingApproval]:
        return list(self._pending.values())

    def decision(self, call_id: str) -> ApprovalDecision | None:
        """The decision taken on `call_id` (its edited arguments as they run)."""
        return self._decided.get(call_id)

    def check(self, decision: ApprovalDecision) -> None:
        """Raise ValueError (the update is refused) unless `decision` can be taken now.

        Runs in the update's validator: it must not change anything.
        """
        if decision.policy is not None:
            # Only the run's own policy decides automatically: nobody may say it did,
            raise ValueError("a decision may not name a policy: the run's policy takes its own")
        if (decision.approver or "").startswith(RUN_DECIDERS):
            # nor sign as it, which `tether status` would show as the policy's decision.
            raise ValueError(f"{decision.approver!r} names the run's own policy, not a person")
        call = waiting_one(self._pending, self._decided, decision.call_id, CALLS)
        rules = self._rules.get(call.call_id)
        if call.digest is not None and decision.digest != call.digest:
            if decision.digest is None:
                raise ValueError(
                    f"a decision on call {call.call_id!r} must carry the digest of the "
                    f"arguments it was shown ({call.digest})"
                )
            raise ValueError(
                f"call {call.call_id!r} waits with other arguments than the ones decided "
                f"on (digest {call.digest}, not {decision.digest}): look at it again"
            )
        if rules is not None:
            check_person(
                rules,
                decision.approver,
                lambda keys: check_signature(
                    keys, decision, call, run_binding(), now=workflow.now()
                ),
                DECIDER,
            )
        if decision.arguments is not None:
            if not decision.approve:
                raise ValueError("edited arguments only go with an approval")
            if rules is None:
                json_object(decision.arguments, what="edited arguments")
            else:
                checked(decision.arguments, rules, what="edited arguments")

    def decide(self, decision: ApprovalDecision) -> PendingApproval:
        """Record a checked decision; the waiting call wakes up with it. Returns the
        call as it will run (edited arguments written out as they run)."""
        call_id = decision.call_id or next(iter(self._pending))
        call = self._pending[call_id]
        update: dict[str, object] = {"call_id": call_id}
        rules = self._rules.get(call_id)
        if decision.arguments is not None and rules is not None:
            runs = checked(decision.arguments, rules, what="edited arguments")
            update["arguments"] = _arguments.canonical(runs)
            call = call.model_copy(
                update={"arguments": update["arguments"], "digest": _arguments.digest(runs)}
            )
        self._decided[call_id] = decision.model_copy(update=update)
        return call

    async def wait(
        self,
        call: ToolCall,
        *,
        turn: int,
        expires_after: timedelta,
        rules: Rules | None = None,
        policy: PolicyGate | None = None,
    ) -> ToolCall | ToolOutcome:
        """The call to run (its arguments perhaps edited), or the refusal for the model.

        With `rules`, arguments the tool would refuse go back to the model at once, and
        the call that waits (and runs) has its arguments written out canonically. With
        `policy` too, the policy decides first, and a person only if it asks for one."""
        digest = None
        if rules is not None:
            try:
                parsed = checked(call.arguments, rules, what="the arguments")
            except ValueError as e:
                return invalid_arguments(call.name, str(e))
            call = call.model_copy(update={"arguments": _arguments.canonical(parsed)})
            digest = _arguments.digest(parsed)
        if call.id in self._decided and self.reused_call_ids():
            # A provider that numbers calls per message reused this id: the decision on
            # record was for an earlier call, whose wait is over. (Before this patch,
            # the earlier decision was taken for this call too, with nobody asked.)
            del self._decided[call.id]
        verdict = None
        if policy is not None and rules is not None:
            verdict = await policy.decide(call, parsed)
            if verdict.decided:
                return self._by_policy(call, verdict, digest, turn)
        pending = self._pending[call.id] = PendingApproval(
            call_id=call.id,
            tool=call.name,
            arguments=call.arguments,
            turn=turn,
            expires_at=workflow.now() + expires_after,
            since=workflow.now(),
        )
        if digest is not None:  # left unset otherwise: old runs' payloads stay as they were
            self._pending[call.id].digest = digest
        if verdict is not None:
            self._pending[call.id].policy = verdict
        if rules is not None:
            self._rules[call.id] = rules
        self._on_change()
        self._publish(
            ApprovalWaiting(
                turn=turn,
                call_id=call.id,
                tool=call.name,
                arguments=call.arguments if len(call.arguments) <= ARGUMENTS_CHARS else None,
                expires_at=pending.expires_at,
                policy=verdict,
            )
        )

        def timed_out() -> None:
            # A late decision for this call is refused as "already decided".
            self._decided[call.id] = ApprovalDecision(call_id=call.id, approve=False)
            self._record(call, turn, self._decided[call.id], "timeout", verdict)
            self._publish(
                ApprovalDecided(
                    turn=turn, call_id=call.id, tool=call.name, approved=False, timed_out=True
                )
            )

        def done_waiting() -> None:
            del self._pending[call.id]
            self._rules.pop(call.id, None)

        decided = await wait_for_person(
            lambda: call.id in self._decided,
            expires_after=expires_after,
            summary=approval_summary(pending, workflow.info().workflow_id),
            timed_out=timed_out,
            done=done_waiting,
            on_change=self._on_change,
        )
        if not decided:
            return ToolOutcome(
                error="rejected",
                content=f"Error: not done. Nobody approved this call within "
                f"{hours(expires_after)}, so it counts as rejected. Tell the user it needs "
                "a person's approval.",
            )
        decision = self._decided[call.id]
        who = decision.approver or "person"
        self._record(call, turn, decision, who, verdict)
        self._publish(
            ApprovalDecided(
                turn=turn,
                call_id=call.id,
                tool=call.name,
                approved=decision.approve,
                reason=decision.reason,
                edited=decision.arguments is not None,
                decided_by=who,
                policy=verdict,
            )
        )
        if not decision.approve:
            why = f": {decision.reason}" if decision.reason else ""
            return ToolOutcome(
                error="rejected", content=f"Error: not done. A person rejected this call{why}."
            )
        if decision.arguments is not None:
            return call.model_copy(update={"arguments": decision.arguments})
        return call

    def _by_policy(
        self, call: ToolCall, verdict: PolicyVerdict, digest: str | None, turn: int
    ) -> ToolCall | ToolOutcome:
        """The call as the policy decided it, recorded like a person's decision: bound
        to the digest of the arguments it runs with, naming the rule (and the judge)."""
        approved = verdict.action != "deny"
        why = verdict.reason or (verdict.judge.reasoning if verdict.judge else None)
        decision = ApprovalDecision(
            call_id=call.id, approve=approved, reason=why, digest=digest, policy=verdict
        )
        self._decided[call.id] = decision
        self._record(call, turn, decision, verdict.decider, verdict)
        self._publish(
            ApprovalDecided(
                turn=turn,
                call_id=call.id,
                tool=call.name,
                approved=approved,
                reason=why,
                decided_by=verdict.decider,
                policy=verdict,
            )
        )
        if approved:
            return call
        told = f": {verdict.reason}" if verdict.reason else ""
        return ToolOutcome(
            error="rejected",
            content=f"Error: not done. The approval policy refused this call (rule "
            f"{verdict.rule!r}){told}.",
        )

    def _record(
        self,
        call: ToolCall,
        turn: int,
        decision: ApprovalDecision,
        who: str,
        verdict: PolicyVerdict | None,
    ) -> None:
        """Keep `decision` for the run's state; `verdict`: what its policy said."""
        self.taken.append(
            DecidedCall(
                call_id=call.id,
                tool=call.name,
                turn=turn,
                approved=decision.approve,
                decided_by=who,
                reason=decision.reason,
                digest=decision.digest,
                policy=verdict,
                at=workflow.now(),
            )
        )
        # The `state` query answers with them: a long chat's must not outgrow it.
        del self.taken[:-DECISIONS_KEPT]


def policy_note(decision: ApprovalDecision | None) -> str:
    """Told to the model before the result of a call its approval policy let run."""
    if decision is None or decision.policy is None:
        return ""
    return f"Approved by the approval policy: {decision.policy.decider}.\n"


def checked(text: str, rules: Rules, *, what: str) -> dict[str, Any]:
    """`text` parsed strictly and checked against the rules' schema (ValueError)."""
    try:
        value = _arguments.parse(text)
        _arguments.check(rules.schema, value)
    except _arguments.ArgumentsError as e:
        raise ValueError(f"{what} are refused: {e}") from None
    return value


DECIDER = Role(
    "this agent's calls are decided by named approvers: say who decides",
    "this agent's approvers",
    "decide its calls",
)


CALLS = Waits("tool call", "for approval", "was already decided")


class DecidesApprovals:
    """The `decide` update of a workflow whose tool calls may wait for a person: the
    agent and the refund pipeline, so `tether approve/reject` work on either."""

    _approvals: Approvals

    @workflow.update
    def decide(self, decision: ApprovalDecision) -> PendingApproval:
        """Approve or reject a tool call that waits for a person."""
        return self._approvals.decide(decision)

    @decide.validator
    def _check_decision(self, decision: ApprovalDecision) -> None:
        self._approvals.check(decision)


def edited_note(arguments: str) -> str:
    """Told to the model before the result of a call approved with other arguments."""
    return f"A person approved this call with edited arguments: {arguments}\n"
