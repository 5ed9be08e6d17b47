"""The demo shop's SQLite database: created and seeded on first use.

The path comes from TETHER_SHOP_DB (default: .tether/shop.db under the working
directory, like the dev server's state).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_PATH = Path(".tether") / "shop.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    item TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    status TEXT NOT NULL,            -- processing | shipped | delivered
    ordered_on TEXT NOT NULL,
    delivered_on TEXT
);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES orders(id),
    amount_cents INTEGER NOT NULL,
    reason TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"""
# Columns added since the first schema, so a shop created before them gains them:
# the digest of the arguments each effect was made with (a key found again with other
# arguments is refused), and who approved a refund and why (the audit row).
ADDED_COLUMNS = {
    "refunds": ("arguments_digest TEXT", "approved_by TEXT", "approval_reason TEXT"),
    "outbox": ("arguments_digest TEXT",),
}


def db_path() -> Path:
    return Path(os.environ.get("TETHER_SHOP_DB") or Path.cwd() / DEFAULT_PATH)


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection to a seeded database; commits on success, rolls back on error.
    A new database and its directory are readable by their owner only."""
    path = path or db_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            _ensure_seeded(conn)
            yield conn
    finally:
        conn.close()


def _ensure_seeded(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    _add_columns(conn)
    if _seeded(conn):
        return
    # Two first tool calls in parallel both find the shop empty: the write lock, taken
    # before looking again, lets one seed it while the other waits, then sees its rows
    # (checked without the lock, both inserted the seed and one failed on its ids).
    conn.execute("BEGIN IMMEDIATE")
    if not _seeded(conn):
        _seed(conn)
    conn.commit()


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                except sqlite3.OperationalError as e:
                    if "duplicate column" not in str(e):  # another connection added it
                        raise


def _seeded(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM customers LIMIT 1").fetchone() is not None


def _seed(conn: sqlite3.Connection) -> None:
    today = datetime.now(UTC).date()

    def days_ago(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?)",
        [
            ("C-1", "Ada Lovelace", "ada@example.com"),
            ("C-2", "Grace Hopper", "grace@example.com"),
            ("C-3", "Alan Turing", "alan@example.com"),
        ],
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ("A-1001", "C-1", "Ceramic teapot", 4200, "delivered", days_ago(9), days_ago(3)),
            ("A-1002", "C-1", "Keyboard", 12900, "delivered", days_ago(80), days_ago(74)),
            ("A-1003", "C-1", "Desk lamp", 3500, "shipped", days_ago(2), None),
            ("A-1004", "C-1", "Headphones", 89900, "delivered", days_ago(6), days_ago(2)),
            ("A-1005", "C-1", "Espresso machine", 24900, "delivered", days_ago(8), days_ago(4)),
        ],
    )
