"""What makes a support ticket's run correct (bench/tickets.yaml names these): what its
tools did, and how it ended."""

from __future__ import annotations

import json

from tether.evals import CaseRun, evaluator


def _argument(arguments: str, name: str) -> object:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    return parsed.get(name) if isinstance(parsed, dict) else None


@evaluator
def refund_as_expected(run: CaseRun) -> bool:
    """A refund of the ticket's order exactly when one is expected, and then an email to
    the customer (an email on another outcome is no error: a reply may go by email)."""
    expected = run.expected_output
    refunded = [_argument(c.arguments, "order_id") for c in run.called("issue_refund")]
    if expected["outcome"] != "refunded":
        return refunded == []
    emailed = {_argument(c.arguments, "to") for c in run.called("send_email")}
    return refunded == [expected["order"]] and expected["email"] in emailed


@evaluator
def ended_well(run: CaseRun) -> bool:
    """The agent completed; the pipeline reached the expected outcome."""
    return run.status in ("completed", run.expected_output["outcome"])
