"""The demo shop's orders as an orders database, served by ``SqlOrders`` like a shop's own.

``orders.json`` (written by ``shopbot prepare``) is converted once into the SQLite file
``orders.sqlite3`` beside it: tables ``orders`` (one row per order) and ``order_lines`` (one
row per line, in the order's line order). ``DEMO_QUERY`` reads it in the SQL connector's
contract (actions/orders/sql.py).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from actions.orders.sql import SqlOrders
from core.shop import Order, load_orders

DB_NAME = "orders.sqlite3"

SCHEMA = """
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT,
    date TEXT NOT NULL,
    country TEXT NOT NULL,
    status TEXT NOT NULL,
    expected_delivery TEXT,
    email TEXT NOT NULL,
    postcode TEXT NOT NULL
);
CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    line_no INTEGER NOT NULL,
    stock_code TEXT NOT NULL,
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price REAL NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
"""

# One row per line; LEFT JOIN: an order without lines is still found.
DEMO_QUERY = """
SELECT o.order_id, o.customer_id, o.date, o.country, o.status, o.expected_delivery,
       o.email, o.postcode, l.stock_code, l.name, l.quantity, l.price
FROM orders o LEFT JOIN order_lines l ON l.order_id = o.order_id
WHERE o.order_id = :order_id
ORDER BY l.line_no
"""


def write_orders_db(orders: Iterable[Order], db_path: Path) -> Path:
    """Write ``orders`` into a new SQLite database at ``db_path`` (replacing any there).

    Written beside and then moved into place, so a server reading the old file never sees a
    half-written one.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{db_path.name}.", dir=db_path.parent)
    os.close(handle)
    try:
        with closing(sqlite3.connect(tmp)) as db, db:
            db.executescript(SCHEMA)
            for order in orders:
                db.execute(
                    "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (order.order_id, order.customer_id, order.date, order.country, order.status,
                     order.expected_delivery, order.email, order.postcode))
                db.executemany(
                    "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?)",
                    [(order.order_id, n, line.stock_code, line.name, line.quantity, line.price)
                     for n, line in enumerate(order.lines)])
        os.replace(tmp, db_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return db_path


def demo_orders_db(shop_dir: Path) -> Path:
    """The demo's orders database, converted from ``orders.json`` when it is missing or older.

    Raises ``NotReady`` when ``orders.json`` is missing (run ``shopbot prepare``).
    """
    db_path = shop_dir / DB_NAME
    source = shop_dir / "orders.json"
    # Without orders.json, a database already there is all the demo has.
    if db_path.exists() and (not source.exists()
                             or db_path.stat().st_mtime_ns >= source.stat().st_mtime_ns):
        return db_path
    return write_orders_db(load_orders(shop_dir).values(), db_path)


def demo_sql_source(shop_dir: Path) -> SqlOrders:
    """The demo's orders, served from its orders database by ``SqlOrders`` and ``DEMO_QUERY``."""
    return SqlOrders(f"sqlite:///{demo_orders_db(shop_dir)}", DEMO_QUERY)
