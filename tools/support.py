"""Support-desk tools over the demo shop database.

Side-effecting tools write with the call's idempotency key under a UNIQUE constraint,
so a retried or replayed call returns the first result instead of acting twice.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

from pydantic import BaseModel

from tether.tools import ToolContext, ToolError, tool
from tools.shop_db import connect

REFUND_WINDOW_DAYS = 30
REFUND_POLICY = (
    "Refund policy: delivered orders can be refunded in full within "
    f"{REFUND_WINDOW_DAYS} days of delivery when the item arrived damaged, faulty or not "
    "as described. Orders that are not yet delivered cannot be refunded (offer to cancel "
    "instead). Each order can be refunded once. Always email the customer a confirmation "
    "after a refund."
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
    refunded: bool


class Refund(BaseModel):
    refund_id: int
    order_id: str
    amount: float
    reason: str


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
        if order.refunded:
            raise ToolError(f"order {order.order_id} was already refunded")
        if order.delivered_on is None:
            raise ToolError(f"order {order.order_id} is {order.status}, not delivered yet")
        age = (date.today() - date.fromisoformat(order.delivered_on)).days
        if age > REFUND_WINDOW_DAYS:
            raise ToolError(
                f"order {order.order_id} was delivered {age} days ago, outside the "
                f"{REFUND_WINDOW_DAYS}-day refund window"
            )
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
