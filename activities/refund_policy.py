"""The shop's refund policy as data and one pure rule, shared by the `issue_refund` tool
and the refund pipeline, and who approves a refund (workflow code: no I/O here, so the
sandbox may import it)."""

from __future__ import annotations

from pydantic import BaseModel

from tether.approvals import ApprovalPolicy, Judge, Rule, context

REFUND_WINDOW_DAYS = 30
REFUND_POLICY = (
    "Refund policy: delivered orders can be refunded in full within "
    f"{REFUND_WINDOW_DAYS} days of delivery when the item arrived damaged, faulty or not "
    "as described. Orders that are not yet delivered cannot be refunded (offer to cancel "
    "instead). Each order can be refunded once. Always email the customer a confirmation "
    "after a refund."
)


# Who approves a refund: nobody below SMALL_REFUND, a person above LARGE_REFUND, a judge
# model in between (a person when it does not approve). The amount is the order's, as
# the pipeline looked it up (`context("amount")`); a refund whose amount the run does not
# know (the support-desk agent's: its tool takes no amount) waits for a person.
SMALL_REFUND = 50.0
LARGE_REFUND = 500.0
REFUND_JUDGE = "refund-judge"
REFUND_APPROVAL = ApprovalPolicy(
    rules=[
        Rule.allow("small refund", context("amount") < SMALL_REFUND),
        Rule.ask_person("large refund", context("amount") > LARGE_REFUND),
        Rule.ask_judge("refund a judge reviews", context("amount") >= SMALL_REFUND),
    ],
    otherwise="ask_person",
    judge=Judge(
        name=REFUND_JUDGE,
        instructions=(
            "You review refunds of a small online shop before they are paid. The shop "
            "refunds delivered orders that arrived damaged, faulty or not as described; "
            "its code has checked the delivery window already. Approve when the "
            "customer's reason is one of those; refuse otherwise; say unsure if the "
            "reason does not tell. A person reviews every refund you do not approve."
        ),
    ),
)


class Order(BaseModel):
    order_id: str
    customer_name: str
    customer_email: str
    item: str
    amount: float
    status: str
    ordered_on: str
    delivered_on: str | None
    # Counted by the lookup (an activity, on the shop's clock), so a workflow applying
    # the policy to it needs no clock of its own.
    days_since_delivery: int | None
    refunded: bool


class Refund(BaseModel):
    refund_id: int
    order_id: str
    amount: float
    reason: str


def policy_refusal(order: Order) -> str | None:
    """Why the policy forbids refunding `order` now, or None if it allows it.

    Whether the reason is one the policy accepts (damaged, faulty, not as described)
    is a judgement, left to whoever reads the customer's words."""
    if order.refunded:
        return f"order {order.order_id} was already refunded"
    age = order.days_since_delivery
    if age is None:
        return f"order {order.order_id} is {order.status}, not delivered yet"
    if age > REFUND_WINDOW_DAYS:
        return (
            f"order {order.order_id} was delivered {age} days ago, outside the "
            f"{REFUND_WINDOW_DAYS}-day refund window"
        )
    return None
