"""What makes a run of a claim correct, for `tether eval evals/claims.yaml --evaluators
expenses.evals`: what its tools did, and how it ended."""

from tether.evals import CaseRun, evaluator


@evaluator
def paid_as_expected(run: CaseRun) -> bool:
    """One payment of the claimed amount when the claim should be paid, none otherwise."""
    paid = run.called("pay_expense")
    if run.expected_output["outcome"] != "paid":
        return paid == []
    return len(paid) == 1 and f'"amount": {float(run.expected_output["amount"])}' in (
        paid[0].arguments
    )


@evaluator
def outcome_as_expected(run: CaseRun) -> bool:
    """The pipeline's outcome, or the first word of the agent's answer, is the expected one."""
    said = run.status if run.status != "completed" else str(run.output).split(":")[0]
    return bool(said == run.expected_output["outcome"])
