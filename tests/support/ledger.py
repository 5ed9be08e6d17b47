"""The order desk's SQLite ledger: customers, their orders, and the refunds and notices
its tools write, each under its call's idempotency key. It seeds itself on first use.

The path comes from ORDER_DESK_DB (the `ledger` fixture sets it; a test's `tether
worker` processes get it from `process_env`), so an in-process worker and a worker
process write to the test's own file.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LEDGER_VARIABLE = "ORDER_DESK_DB"
# Who the order desk's runs act for: Ada owns every seeded order; `seed_orders` gives
# a test's own orders to SEEDED_CUSTOMER, Grace.
CUSTOMER = "C-1"
SEEDED_CUSTOMER = "C-2"

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, item TEXT NOT NULL, cents INTEGER NOT NULL, status TEXT NOT NULL,
    customer TEXT NOT NULL REFERENCES customers(id)
);
-- What the tools did, one row per call: its idempotency key is UNIQUE, and the digest
-- of the arguments it ran with is kept beside it.
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL REFERENCES orders(id),
    cents INTEGER NOT NULL, reason TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
    arguments_digest TEXT, approved_by TEXT, approval_reason TEXT
);
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT, to_address TEXT NOT NULL, text TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE, arguments_digest TEXT
);
"""
CUSTOMERS = [
    ("C-1", "ada@example.com", "Ada Lovelace"),
    ("C-2", "grace@example.com", "Grace Hopper"),
]
ORDERS = [
    ("A-1001", "Ceramic teapot", 4200, "delivered", "C-1"),
    ("A-1002", "Keyboard", 12900, "delivered", "C-1"),
    ("A-1003", "Desk lamp", 3500, "shipped", "C-1"),
    ("A-1004", "Headphones", 89900, "delivered", "C-1"),
]


def ledger_path() -> Path:
    path = os.environ.get(LEDGER_VARIABLE)
    assert path, f"{LEDGER_VARIABLE} names no ledger: use the `ledger` fixture or process_env"
    return Path(path)


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection to the seeded ledger; commits on success, rolls back on error. Two
    first calls at once seed it once: the rows are inserted or ignored."""
    conn = sqlite3.connect(path or ledger_path(), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            conn.executescript(SCHEMA)
            conn.executemany("INSERT OR IGNORE INTO customers VALUES (?, ?, ?)", CUSTOMERS)
            conn.executemany("INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?)", ORDERS)
            yield conn
    finally:
        conn.close()


def seed_orders(ledger: Path, orders: list[str]) -> list[str]:
    """Orders of the test's own, delivered, of $10.00 each, so every run's refund is
    allowed (the desk refuses a second refund of an order)."""
    with connect(ledger) as db:
        db.executemany(
            "INSERT INTO orders VALUES (?, 'Widget', 1000, 'delivered', ?)",
            [(order, SEEDED_CUSTOMER) for order in orders],
        )
    return orders


def rows(ledger: Path, query: str) -> list[tuple[Any, ...]]:
    """What `query` selects from the ledger (seeded first, if no tool ran yet)."""
    with connect(ledger) as db:
        return [tuple(row) for row in db.execute(query)]


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def runs_per_key(ledger: Path, table: str) -> Counter[str]:
    """Rows per run: idempotency keys are `namespace:workflow id:first run id:turn:call id`."""
    with sqlite3.connect(ledger) as db:
        keys = [row[0] for row in db.execute(f"SELECT idempotency_key FROM {table}")]
    return Counter(key.split(":")[1] for key in keys)
