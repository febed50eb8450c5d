"""order-service's embedded SQLite database, fenced by coordkit tokens.

Every write that acts for a coordkit lock or leadership carries that holder's fencing token, and
the database refuses a token older than the newest it has stored for the same thing: the check and
the write are one SQLite transaction (``BEGIN IMMEDIATE`` takes the write lock first, so no other
writer, thread or process, slips in between). A holder that stalled past the loss of its lock (a
long GC pause, a frozen VM) and wakes up to write finds its token refused instead of overwriting
the newer holder's work. That is the end-to-end half of fencing that no lock service can do alone.

* orders: the token of the ``orders/<id>`` lock holder, per order;
* settlements: the token of the ``settlement`` election's leader, one for the whole table.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Order", "OrderStore", "StaleTokenError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    amount REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'settled')),
    fence_token INTEGER NOT NULL,
    payment_id TEXT UNIQUE,
    payment_instance TEXT,
    created_at REAL NOT NULL,
    paid_at REAL,
    settled_at REAL,
    settled_by TEXT
);
CREATE TABLE IF NOT EXISTS fences (
    name TEXT PRIMARY KEY,
    token INTEGER NOT NULL
);
"""
_COLUMNS = (
    "order_id, amount, status, fence_token, payment_id, payment_instance, created_at, paid_at, "
    "settled_at, settled_by"
)


class StaleTokenError(Exception):
    """A write carried a fencing token older than one the database already stored: its writer
    lost the lock (or leadership) meanwhile, and somebody newer has written since."""


@dataclass(frozen=True)
class Order:
    order_id: str
    amount: float
    status: str
    fence_token: int
    payment_id: str | None
    payment_instance: str | None
    created_at: float
    paid_at: float | None
    settled_at: float | None
    settled_by: str | None

    @property
    def paid(self) -> bool:
        return self.status in ("paid", "settled")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class OrderStore:
    """The orders in one SQLite file (``":memory:"`` for a private in-memory database).

    Thread-safe: one connection, one transaction at a time in this process; other processes
    opening the same file are kept out by SQLite's own locking."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._lock = threading.Lock()
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- reading -----------------------------------------------------------------------------------
    def get(self, order_id: str) -> Order | None:
        with self._lock:
            return _get(self._db, order_id)

    def all(self) -> list[Order]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM orders ORDER BY order_id").fetchall()
        return [Order(*row) for row in rows]

    def stats(self) -> dict[str, Any]:
        """Counts by status, and paid orders by the payment instance that charged them."""
        with self._lock:
            by_status = dict(
                self._db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall()
            )
            by_instance = dict(
                self._db.execute(
                    "SELECT payment_instance, COUNT(*) FROM orders WHERE status != 'pending' "
                    "GROUP BY payment_instance ORDER BY payment_instance"
                ).fetchall()
            )
        counts = {status: by_status.get(status, 0) for status in ("pending", "paid", "settled")}
        return {"orders": sum(counts.values()), **counts, "payments_by_instance": by_instance}

    # --- fenced writes -----------------------------------------------------------------------------
    def begin(self, order_id: str, amount: float, token: int) -> Order:
        """Record the order as pending under lock token ``token`` (or return it unchanged if it
        is already paid). Raises StaleTokenError if a newer token has written this order."""
        with self._transaction() as db:
            current = _get(db, order_id)
            _check(current, order_id, token)
            if current is not None and current.paid:
                return current
            db.execute(
                "INSERT INTO orders (order_id, amount, status, fence_token, created_at) "
                "VALUES (?, ?, 'pending', ?, ?) "
                "ON CONFLICT (order_id) DO UPDATE SET "
                "amount = excluded.amount, fence_token = excluded.fence_token",
                (order_id, amount, token, time.time()),
            )
            found = _get(db, order_id)
        assert found is not None
        return found

    def record_payment(
        self, order_id: str, amount: float, token: int, payment_id: str, instance: str
    ) -> Order:
        """Mark the order paid by ``payment_id`` under lock token ``token``.

        An order already paid stays as it was and is returned: an order is never paid twice.
        Raises StaleTokenError (writing nothing) if a newer token has written this order."""
        with self._transaction() as db:
            current = _get(db, order_id)
            _check(current, order_id, token)
            if current is not None and current.paid:
                return current
            db.execute(
                "INSERT INTO orders (order_id, amount, status, fence_token, payment_id, payment_instance, "
                "created_at, paid_at) VALUES (?, ?, 'paid', ?, ?, ?, ?, ?) "
                "ON CONFLICT (order_id) DO UPDATE SET status = 'paid', fence_token = excluded.fence_token, "
                "payment_id = excluded.payment_id, payment_instance = excluded.payment_instance, "
                "paid_at = excluded.paid_at",
                (order_id, amount, token, payment_id, instance, time.time(), time.time()),
            )
            found = _get(db, order_id)
        assert found is not None
        return found

    def settle(self, token: int, worker: str, *, limit: int = 1000) -> list[str]:
        """Mark up to ``limit`` paid orders settled, for the settlement leader with election
        token ``token``; returns their ids. Raises StaleTokenError (settling nothing) if a
        leader with a newer token has settled before: this caller is no longer the leader."""
        with self._transaction() as db:
            row = db.execute("SELECT token FROM fences WHERE name = 'settlement'").fetchone()
            if row is not None and token < row[0]:
                raise StaleTokenError(f"settlement token {token} is older than {row[0]}, the newest leader's")
            db.execute(
                "INSERT INTO fences (name, token) VALUES ('settlement', ?) "
                "ON CONFLICT (name) DO UPDATE SET token = excluded.token",
                (token,),
            )
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT order_id FROM orders WHERE status = 'paid' ORDER BY paid_at LIMIT ?", (limit,)
                )
            ]
            db.executemany(
                "UPDATE orders SET status = 'settled', settled_at = ?, settled_by = ? WHERE order_id = ?",
                [(time.time(), worker, order_id) for order_id in ids],
            )
        return ids


def _get(db: sqlite3.Connection, order_id: str) -> Order | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return None if row is None else Order(*row)


def _check(current: Order | None, order_id: str, token: int) -> None:
    if current is not None and token < current.fence_token:
        raise StaleTokenError(
            f"order {order_id}: fencing token {token} is older than {current.fence_token}, "
            "stored by a later holder of its lock; this write is refused"
        )
