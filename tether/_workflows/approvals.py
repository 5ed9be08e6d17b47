"""Human approval of tool calls (workflow code: deterministic, no I/O).

A call of a `needs_approval` tool waits here for a decision delivered by the workflow's
`decide` update. The update's validator runs `Approvals.check`, so a decision for an
unknown or already decided call is refused before it reaches history. The wait is a
durable timer: with no decision in time the call counts as rejected, and in every case
the model is told what happened as that call's result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tether._messages import ToolCall
    from tether._seam import ApprovalDecision, PendingApproval, ToolOutcome
    from tether._validation import json_object

from tether._workflows.generations import REUSED_CALL_IDS


class Approvals:
    """The calls waiting for a human, and the decisions taken in this run."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._pending: dict[str, PendingApproval] = {}
        self._decided: dict[str, ApprovalDecision] = {}
        # The workflow keeps its status and search attributes current through this.
        self._on_change = on_change
        # Whether this run's code path gives a reused call id its own decision (see
        # generations.REUSED_CALL_IDS); a workflow whose runs know it sets its own.
        self.reused_call_ids: Callable[[], bool] = lambda: workflow.patched(REUSED_CALL_IDS)

    @property
    def pending(self) -> list[PendingApproval]:
        return list(self._pending.values())

    def check(self, decision: ApprovalDecision) -> None:
        """Raise ValueError (the update is refused) unless `decision` can be taken now.

        Runs in the update's validator: it must not change anything.
        """
        waiting = ", ".join(self._pending) or "none"
        if decision.call_id is None:
            if len(self._pending) != 1:
                raise ValueError(
                    f"{len(self._pending)} tool calls wait for approval ({waiting}); "
                    "name one with its call id"
                )
        elif decision.call_id in self._decided:
            raise ValueError(f"tool call {decision.call_id!r} was already decided")
        elif decision.call_id not in self._pending:
            raise ValueError(
                f"no tool call {decision.call_id!r} waits for approval (waiting: {waiting})"
            )
        if decision.arguments is not None:
            if not decision.approve:
                raise ValueError("edited arguments only go with an approval")
            json_object(decision.arguments, what="edited arguments")

    def decide(self, decision: ApprovalDecision) -> PendingApproval:
        """Record a checked decision; the waiting call wakes up with it."""
        call_id = decision.call_id or next(iter(self._pending))
        self._decided[call_id] = decision.model_copy(update={"call_id": call_id})
        return self._pending[call_id]

    async def wait(
        self, call: ToolCall, *, turn: int, expires_after: timedelta
    ) -> ToolCall | ToolOutcome:
        """The call to run (its arguments perhaps edited), or the refusal for the model."""
        if call.id in self._decided and self.reused_call_ids():
            # A provider that numbers calls per message reused this id: the decision on
            # record was for an earlier call, whose wait is over. (Before this patch,
            # the earlier decision was taken for this call too, with nobody asked.)
            del self._decided[call.id]
        self._pending[call.id] = PendingApproval(
            call_id=call.id,
            tool=call.name,
            arguments=call.arguments,
            turn=turn,
            expires_at=workflow.now() + expires_after,
        )
        self._on_change()
        closed = False
        try:
            await workflow.wait_condition(lambda: call.id in self._decided, timeout=expires_after)
        except GeneratorExit:
            closed = True
            raise
        except TimeoutError:
            # A late decision for this call is refused as "already decided".
            self._decided[call.id] = ApprovalDecision(call_id=call.id, approve=False)
            waited = _hours(expires_after)
            return ToolOutcome(
                error="rejected",
                content=f"Error: not done. Nobody approved this call within {waited}, so it "
                "counts as rejected. Tell the user it needs a person's approval.",
            )
        finally:
            del self._pending[call.id]
            # A run evicted from a worker's cache may leave this coroutine to the garbage
            # collector, which closes it (GeneratorExit) in whatever thread it runs, maybe
            # while another run's code runs there: workflow calls would then act on that
            # run (an upsert in its history). Nothing changed, so nothing is published.
            if not closed and workflow.in_workflow():
                self._on_change()
        decision = self._decided[call.id]
        if not decision.approve:
            why = f": {decision.reason}" if decision.reason else ""
            return ToolOutcome(
                error="rejected", content=f"Error: not done. A person rejected this call{why}."
            )
        if decision.arguments is not None:
            return call.model_copy(update={"arguments": decision.arguments})
        return call


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


def _hours(timeout: timedelta) -> str:
    hours = timeout.total_seconds() / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")
