"""The support tickets of the agent-or-pipeline comparison, each with its own order and
the outcome a correct support desk reaches: refunded, refused (the policy says no, or it
is no refund request), rejected (a person declines the refund) or missing_order.

Orders are seeded fresh for each path, so every ticket starts from the same shop. The
first six tickets cover every outcome (the comparison's CI size).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from activities.shop_db import connect
from workflows.refund_pipeline_types import PipelineOutcome

CUSTOMERS = {"C-1": "ada@example.com", "C-2": "grace@example.com", "C-3": "alan@example.com"}


@dataclass(frozen=True)
class ShopOrder:
    order_id: str
    customer: str
    item: str
    amount: float
    delivered_days_ago: int | None  # None: shipped, not delivered yet
    refunded: bool = False


@dataclass(frozen=True)
class Ticket:
    text: str
    expect: PipelineOutcome
    order: ShopOrder | None = None  # None: the ticket names an order the shop lacks

    @property
    def email(self) -> str | None:
        return CUSTOMERS[self.order.customer] if self.order else None


def _order(order_id: str, customer: str, item: str, amount: float, days: int | None) -> ShopOrder:
    return ShopOrder(order_id, customer, item, amount, days)


TICKETS = [
    Ticket(
        "Order T-2001 arrived broken, I want my money back.",
        "refunded",
        _order("T-2001", "C-1", "Ceramic teapot", 42.0, 3),
    ),
    Ticket(
        "Order T-2007: the headphones are damaged, refund me.",
        "refunded",  # above the pipeline's approval threshold: a person approves
        _order("T-2007", "C-1", "Headphones", 899.0, 2),
    ),
    Ticket(
        "The chair from order T-2010 arrived damaged, refund please.",
        "rejected",
        _order("T-2010", "C-1", "Office chair", 450.0, 3),
    ),
    Ticket(
        "My keyboard from order T-2012 is faulty, refund please.",
        "refused",  # delivered 74 days ago: outside the 30-day window
        _order("T-2012", "C-3", "Keyboard", 129.0, 74),
    ),
    Ticket(
        "Where is my order T-2016?",
        "refused",  # not a refund request
        _order("T-2016", "C-1", "Desk lamp", 35.0, None),
    ),
    Ticket("Order T-9001 arrived broken, I want my money back.", "missing_order"),
    Ticket(
        "The mug from order T-2002 is damaged. Can I get a refund?",
        "refunded",
        _order("T-2002", "C-2", "Mug", 18.0, 5),
    ),
    Ticket(
        "My cable (T-2003) is faulty, please refund me.",
        "refunded",
        _order("T-2003", "C-3", "USB cable", 12.0, 1),
    ),
    Ticket(
        "Hi, order T-2004 came broken. Money back please.",
        "refunded",
        _order("T-2004", "C-1", "Reading lamp", 35.0, 10),
    ),
    Ticket(
        "Refund order T-2005 please, the cover was damaged.",
        "refunded",
        _order("T-2005", "C-2", "Hardback book", 25.0, 20),
    ),
    Ticket(
        "The charger from T-2006 is faulty. Refund.",
        "refunded",
        _order("T-2006", "C-3", "Charger", 29.0, 2),
    ),
    Ticket(
        "Keyboard from T-2008 arrived broken, I want a refund.",
        "refunded",
        _order("T-2008", "C-2", "Keyboard", 129.0, 4),
    ),
    Ticket(
        "My monitor (order T-2009) is faulty. Please refund.",
        "refunded",
        _order("T-2009", "C-3", "Monitor", 249.0, 6),
    ),
    Ticket(
        "Order T-2011, the desk is broken. I want my money back.",
        "rejected",
        _order("T-2011", "C-2", "Standing desk", 620.0, 7),
    ),
    Ticket(
        "Order T-2013 still has not come and I would like a refund.",
        "refused",  # shipped, not delivered
        _order("T-2013", "C-1", "Desk lamp", 35.0, None),
    ),
    Ticket(
        "The mug from T-2014 is broken, refund please.",
        "refused",  # refunded before
        ShopOrder("T-2014", "C-2", "Mug", 18.0, 5, refunded=True),
    ),
    Ticket(
        "The vase from order T-2015 is damaged, refund.",
        "refused",  # delivered 45 days ago
        _order("T-2015", "C-3", "Vase", 60.0, 45),
    ),
    Ticket(
        "Has order T-2017 been delivered yet?",
        "refused",
        _order("T-2017", "C-2", "USB cable", 12.0, 3),
    ),
    Ticket("What's the status of T-2018?", "refused", _order("T-2018", "C-3", "Novel", 15.0, None)),
    Ticket("Refund order T-9002 please, it's damaged.", "missing_order"),
    Ticket("My teapot arrived broken, refund it please.", "missing_order"),
    Ticket("Where is order T-9003?", "missing_order"),
]


def seed(shop: Path, tickets: list[Ticket]) -> None:
    """A fresh shop database holding the tickets' orders (and their earlier refunds)."""
    shop.unlink(missing_ok=True)
    today = date.today()
    with connect(shop) as db:
        for order in (t.order for t in tickets if t.order):
            delivered = None
            if order.delivered_days_ago is not None:
                delivered = (today - timedelta(days=order.delivered_days_ago)).isoformat()
            ordered = (today - timedelta(days=(order.delivered_days_ago or 0) + 4)).isoformat()
            status = "delivered" if delivered else "shipped"
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
                (order.order_id, order.customer, order.item, round(order.amount * 100), status,
                 ordered, delivered),
            )  # fmt: skip
            if order.refunded:
                db.execute(
                    "INSERT INTO refunds (order_id, amount_cents, reason, idempotency_key,"
                    " created_at) VALUES (?, ?, 'earlier', ?, ?)",
                    (order.order_id, round(order.amount * 100), f"seed:{order.order_id}", ordered),
                )
