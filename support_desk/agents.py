"""The demo agent: a support desk for a small shop, with real refunds and emails."""

from __future__ import annotations

from activities.support_tools import get_refund_policy, issue_refund, lookup_order, send_email
from tether import Agent

SUPPORT_DESK = Agent(
    name="support-desk",
    instructions=(
        "You are the support desk of a small online shop. Help the customer with their "
        "order. Look the order up before saying anything about it, and read the refund "
        "policy before refunding. Refund only what the policy allows, and after a refund "
        "email the customer a short confirmation. Answer in two or three sentences."
    ),
    tools=[lookup_order, get_refund_policy, issue_refund, send_email],
)
