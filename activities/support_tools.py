"""Support-desk tools over the demo shop database.

Side-effecting tools write with the call's idempotency key under a UNIQUE constraint,
so a retried or replayed call returns the first result instead of acting twice.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

from pydantic import BaseModel

from activities.refund_policy import REFUND_POLICY, Order, Refund, policy_refusal
from activities.shop_db import connect
from tether import ToolContext, ToolError, tool


class EmailReceipt(BaseModel):
    email_id: int
    to: str
    subject: str


@tool(fast=True)
def lookup_order(order_id: str) -> Order:
    """Look up an order by its id (like A-1001): item, amount, status, customer and refunds."""
    with connect() as db:
        return _order(db, order_id)


@tool(fast=True)
def get_refund_policy() -> str:
    """Read the shop's refund policy."""
    return REFUND_POLICY


# Money leaves the shop: a person approves each refund before it runs.
@tool(side_effects=True, needs_approval=True)
def issue_refund(ctx: ToolContext, order_id: str, reason: str) -> Refund:
    """Refund an order in full to the customer's original payment method."""
    with connect() as db:
        done = db.execute(
            "SELECT * FROM refunds WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
        if done is not None:
            return _refund(done)
        order = _order(db, order_id)
        refusal = policy_refusal(order)
        if refusal is not None:
            raise ToolError(refusal)
        cur = db.execute(
            "INSERT INTO refunds (order_id, amount_cents, reason, idempotency_key, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING *",
            (order.order_id, round(order.amount * 100), reason, ctx.idempotency_key, _now()),
        )
        return _refund(cur.fetchone())


@tool(side_effects=True)
def send_email(ctx: ToolContext, to: str, subject: str, body: str) -> EmailReceipt:
    """Send an email to a customer."""
    if "@" not in to:
        raise ToolError(f"{to!r} is not an email address")
    with connect() as db:
        db.execute(
            "INSERT INTO outbox (to_address, subject, body, idempotency_key, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
            (to, subject, body, ctx.idempotency_key, _now()),
        )
        row = db.execute(
            "SELECT * FROM outbox WHERE idempotency_key = ?", (ctx.idempotency_key,)
        ).fetchone()
        return EmailReceipt(email_id=row["id"], to=row["to_address"], subject=row["subject"])


def _order(db: sqlite3.Connection, order_id: str) -> Order:
    row = db.execute(
        "SELECT o.*, c.name, c.email,"
        " EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id) AS refunded"
        " FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
        (order_id.strip().upper(),),
    ).fetchone()
    if row is None:
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
