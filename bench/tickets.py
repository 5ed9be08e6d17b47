"""The support tickets of the agent-or-pipeline comparison: bench/tickets.yaml, a
dataset in pydantic-evals' format that `tether eval` runs. Each ticket has its own
order (its `metadata.order`) and the outcome a correct support desk reaches: refunded,
refused (the policy says no, or it is no refund request), rejected (a person declines
the refund) or missing_order.

Orders are seeded fresh for each target, so every ticket starts from the same shop. The
first six tickets cover every outcome (the comparison's CI size).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from activities.shop_db import connect

DATASET = Path(__file__).with_name("tickets.yaml")


def dataset(tickets: int | None = None) -> dict[str, Any]:
    """The dataset, with its first `tickets` cases (all without)."""
    data: dict[str, Any] = yaml.safe_load(DATASET.read_text())
    data["cases"] = data["cases"][:tickets]
    return data


def write_dataset(path: Path, tickets: int | None = None) -> Path:
    """The dataset (its first `tickets` cases) as a file at `path`."""
    path.write_text(yaml.safe_dump(dataset(tickets), sort_keys=False, allow_unicode=True))
    return path


def seed(shop: Path, cases: list[dict[str, Any]]) -> None:
    """A fresh shop database holding the cases' orders (and their earlier refunds)."""
    shop.unlink(missing_ok=True)
    today = date.today()
    with connect(shop) as db:
        for case in cases:
            order = (case.get("metadata") or {}).get("order")
            if order is None:
                continue  # the ticket names an order the shop lacks
            days = order["delivered_days_ago"]
            delivered = None if days is None else (today - timedelta(days=days)).isoformat()
            ordered = (today - timedelta(days=(days or 0) + 4)).isoformat()
            status = "delivered" if delivered else "shipped"
            cents = round(order["amount"] * 100)
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
                (order["id"], order["customer"], order["item"], cents, status, ordered, delivered),
            )
            if order.get("refunded"):
                db.execute(
                    "INSERT INTO refunds (order_id, amount_cents, reason, idempotency_key,"
                    " created_at) VALUES (?, ?, 'earlier', ?, ?)",
                    (order["id"], cents, f"seed:{order['id']}", ordered),
                )
