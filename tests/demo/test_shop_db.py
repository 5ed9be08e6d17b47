"""The demo shop's database seeds itself once, however many first tool calls race, and
it is readable by its owner only."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

from activities.shop_db import SCHEMA, connect
from tests.support.ledger import count_rows

FIRST_CALLS = 4


def test_parallel_first_calls_seed_a_fresh_shop_once(tmp_path: Path) -> None:
    shop = tmp_path / "shop.db"
    # Another writer holds the write lock of an empty shop, so every first call gets
    # as far as finding it empty before any of them can write: the race, every time.
    holder = sqlite3.connect(shop, isolation_level=None)
    holder.executescript(SCHEMA)
    holder.execute("BEGIN IMMEDIATE")
    errors: list[Exception] = []

    def first_call() -> None:
        try:
            with connect(shop) as db:
                db.execute("SELECT * FROM orders").fetchall()
        except Exception as e:
            errors.append(e)

    calls = [threading.Thread(target=first_call) for _ in range(FIRST_CALLS)]
    for call in calls:
        call.start()
    time.sleep(0.5)  # lets them reach the lock; a shorter wait only makes the race rarer
    holder.execute("ROLLBACK")
    holder.close()
    for call in calls:
        call.join(timeout=60)

    assert errors == []
    assert not any(call.is_alive() for call in calls)
    assert (count_rows(shop, "customers"), count_rows(shop, "orders")) == (3, 5)


def test_the_shop_database_is_private(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "shop.db"
    with connect(db) as conn:
        conn.execute("SELECT 1 FROM orders")
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
