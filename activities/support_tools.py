"""Support-desk tools over the demo shop database.

The way to write tools that act for someone:

- Whose data a call may touch comes from `ctx.acting_for` (the customer the run was
  started for), never from the model's arguments: another customer's order reads as
  not found, and emails go only to the run's own customer.
- Side-effecting tools write with the call's idempotency key under a UNIQUE
  constraint, so a retried or replayed call returns the first result instead of acting
  twice, and store the arguments' digest beside it: a key found again with other
  arguments is refused, never answered with another call's effect.
- A refund records who approved it and why (`ctx.approval`: a person, or the approval
  policy's rule) in the same row.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

from pydantic import BaseModel

from activities.refund_policy import (
    REFUND_APPROVAL,
    REFUND_POLICY,
    Order,
    Refund,
    policy_refusal,
)
from activities.shop_db import connect
from tether import ApprovalDecision, ToolContext, ToolError, tool


class EmailReceipt(BaseModel):
    email_id: int
    to: str
    subject: str


@tool(fast=True)
def lookup_order(ctx: ToolContext, order_id: str) -> Order:
    """Look up an order of this customer by its id (like A-1001): item, amount, status,
    customer and refunds."""
    with connect() as db:
        return _order(db, order_id, _customer(ctx))


@tool(fast=True)
def get_refund_policy() -> str:
    """Read the shop's refund policy."""
    return REFUND_POLICY


# Money leaves the shop: each refund is approved before it runs, by the shop's approval
# policy (small ones at once, a person for large ones, a judge model in between).
@tool(side_effects=True, approval_policy=REFUND_APPROVAL)
def issue_refund(ctx: ToolContext, order_id: str, reason: str) -> Refund:
    """Refund an order of this customer in full to their original payment method."""
    with connect() as db:
        done = db.execute(
            "SELECT * FROM refunds WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
        if done is not None:
            _same_call(done, ctx)
            return _refund(done)
        order = _order(db, order_id, _customer(ctx))
        refusal = policy_refusal(order)
        if refusal is not None:
            raise ToolError(refusal)
        approval = ctx.approval
        cur = db.execute(
            "INSERT INTO refunds (order_id, amount_cents, reason, idempotency_key, created_at,"
            " arguments_digest, approved_by, approval_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                order.order_id,
                round(order.amount * 100),
                reason,
                ctx.idempotency_key,
                _now(),
                ctx.arguments_digest,
                _approved_by(approval),
                approval.reason if approval else None,
            ),
        )
        return _refund(cur.fetchone())


@tool(side_effects=True)
def send_email(ctx: ToolContext, to: str, subject: str, body: str) -> EmailReceipt:
    """Send an email to this customer (only their own address is accepted)."""
    with connect() as db:
        customer = _customer(ctx)
        row = db.execute("SELECT email FROM customers WHERE id = ?", (customer,)).fetchone()
        if row is None or to.strip().lower() != row["email"].lower():
            raise ToolError("emails go only to this conversation's customer, at their address")
        db.execute(
            "INSERT INTO outbox (to_address, subject, body, idempotency_key, created_at,"
            " arguments_digest) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (row["email"], subject, body, ctx.idempotency_key, _now(), ctx.arguments_digest),
        )
        sent = db.execute(
            "SELECT * FROM outbox WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
        _same_call(sent, ctx)
        return EmailReceipt(email_id=sent["id"], to=sent["to_address"], subject=sent["subject"])


def _customer(ctx: ToolContext) -> str:
    """The customer the run acts for: the starter says who, never the model."""
    if not ctx.acting_for:
        raise ToolError(
            "this conversation acts for no customer, so no order can be looked at: "
            "start it for one (--acting-for CUSTOMER_ID)"
        )
    return ctx.acting_for


def _same_call(row: sqlite3.Row, ctx: ToolContext) -> None:
    """A row found under this call's key must have been written by this call."""
    stored = row["arguments_digest"]
    if stored is not None and stored != ctx.arguments_digest:
        raise ToolError(
            "this call's idempotency key was already used with other arguments; nothing was done"
        )


def _order(db: sqlite3.Connection, order_id: str, customer: str) -> Order:
    row = db.execute(
        "SELECT o.*, c.name, c.email,"
        " EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id) AS refunded"
        " FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.id = ? AND o.customer_id = ?",
        (order_id.strip().upper(), customer),
    ).fetchone()
    if row is None:  # another customer's order reads the same as none at all
        raise ToolError(f"order {order_id!r} not found")
    return Order(
        order_id=row["id"],
        customer_name=row["name"],
        customer_email=row["email"],
        item=row["item"],
        amount=row["amount_cents"] / 100,
        status=row["status"],
        ordered_on=row["ordered_on"],
        delivered_on=row["delivered_on"],
        days_since_delivery=(date.today() - date.fromisoformat(row["delivered_on"])).days
        if row["delivered_on"]
        else None,
        refunded=bool(row["refunded"]),
    )


def _refund(row: sqlite3.Row) -> Refund:
    return Refund(
        refund_id=row["id"],
        order_id=row["order_id"],
        amount=row["amount_cents"] / 100,
        reason=row["reason"],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _approved_by(approval: ApprovalDecision | None) -> str | None:
    """Who let the refund run: the person's name, or the policy's rule (and judge)."""
    if approval is None:
        return None
    if approval.policy is not None:
        return approval.policy.decider
    return approval.approver
