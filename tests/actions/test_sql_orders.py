"""Live orders from the shop's own database (actions/orders/sql.py): SQLite and PostgreSQL, real."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from actions.orders.breaker import CircuitBreaker
from actions.orders.demo import DemoOrders
from actions.orders.demo_db import DB_NAME, DEMO_QUERY, demo_sql_source, write_orders_db
from actions.orders.sql import SqlOrders, checked_query
from actions.services import normalise_order_id
from core.errors import BadRequest, Unavailable
from core.shop import Order, OrderLine, load_orders
from harness.pg import Postgres, postgres
from retrieval.prepare import prepare_shop
from tests.actions.conftest import write_transactions

ORDER = Order(
    order_id="700001", customer_id="12345", date="2026-11-30 09:15:00", country="United Kingdom",
    status="packed", expected_delivery="2026-12-03",
    lines=(OrderLine("10001", "RED HEART MUG", 2, 2.5), OrderLine("10006", "PAPER CHAIN KIT", 1, 2.95)),
    email="jane@example.com", postcode="SW1A 1AA")

# A shop's own schema, not the demo's: other names, typed columns (the query maps them).
PG_SCHEMA = """
CREATE TABLE shop_orders (id text PRIMARY KEY, customer integer, placed_at timestamp NOT NULL,
    state text NOT NULL, eta date, country text, contact_email text, zip text);
CREATE TABLE shop_lines (order_ref text NOT NULL REFERENCES shop_orders (id), pos integer NOT NULL,
    sku text NOT NULL, title text NOT NULL, qty integer NOT NULL, unit_price numeric(10, 2) NOT NULL);
CREATE SEQUENCE lookups;
"""
PG_QUERY = """
SELECT o.id AS order_id, o.customer AS customer_id, o.placed_at AS date, o.state AS status,
       o.eta AS expected_delivery, o.country, o.contact_email AS email, o.zip AS postcode,
       l.sku AS stock_code, l.title AS name, l.qty AS quantity, l.unit_price AS price
FROM shop_orders o LEFT JOIN shop_lines l ON l.order_ref = o.id
WHERE o.id = :order_id ORDER BY l.pos
"""


def fast(url: str, query: str = DEMO_QUERY, **kwargs: object) -> SqlOrders:
    """A source that gives up quickly (tests wait for outages, not for the defaults)."""
    options: dict[str, object] = {"timeout_s": 2.0, "retries": 1, "backoff_s": 0.01,
                                  "breaker": CircuitBreaker(failures=2, open_s=0.5)}
    options.update(kwargs)
    return SqlOrders(url, query, **options)  # type: ignore[arg-type]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    return write_orders_db([ORDER], tmp_path / "shop-orders.sqlite3")


@pytest.fixture
async def sqlite_source(sqlite_db: Path) -> AsyncIterator[SqlOrders]:
    source = fast(f"sqlite:///{sqlite_db}")
    yield source
    await source.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres() as server:
        engine = create_engine(server.url)
        with engine.begin() as db:
            for statement in PG_SCHEMA.split(";"):
                if statement.strip():
                    db.execute(text(statement))
            db.execute(text("INSERT INTO shop_orders VALUES ('700001', 12345, '2026-11-30 09:15:00', "
                            "'packed', '2026-12-03', 'United Kingdom', 'jane@example.com', 'SW1A 1AA'), "
                            "('700002', NULL, '2026-12-01 10:00:00', 'processing', NULL, 'France', "
                            "'guest@example.com', '75001')"))
            db.execute(text("INSERT INTO shop_lines VALUES ('700001', 1, '10001', 'RED HEART MUG', 2, 2.50), "
                            "('700001', 2, '10006', 'PAPER CHAIN KIT', 1, 2.95)"))
        engine.dispose()
        yield server


@pytest.fixture
def pg_admin(pg: Postgres) -> Iterator[Engine]:
    engine = create_engine(pg.url)
    yield engine
    engine.dispose()


@pytest.fixture
async def pg_source(pg: Postgres) -> AsyncIterator[SqlOrders]:
    source = fast(pg.url, PG_QUERY)
    yield source
    await source.close()


def set_sqlite_status(db_path: Path, order_id: str, status: str) -> None:
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("UPDATE orders SET status = ? WHERE order_id = ?", (status, order_id))


def sqlite_tables(db_path: Path) -> list[str]:
    with closing(sqlite3.connect(db_path)) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "ORDER BY name")]


# The query is checked before anything is asked.

@pytest.mark.parametrize("query", [
    "DELETE FROM orders WHERE order_id = :order_id",
    "UPDATE orders SET status = 'x' WHERE order_id = :order_id",
    "SELECT * FROM orders WHERE order_id = :order_id; DROP TABLE orders",
    "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone WHERE order_id = :order_id",
    "SELECT * INTO copied FROM orders WHERE order_id = :order_id",
    "-- looks like a comment\nDROP TABLE orders",
    "/* SELECT */ INSERT INTO orders (order_id) VALUES (:order_id)",
    "PRAGMA query_only = OFF",
])
def test_a_query_that_is_not_one_select_is_refused(query: str, sqlite_db: Path) -> None:
    with pytest.raises(BadRequest):
        SqlOrders(f"sqlite:///{sqlite_db}", query)
    assert sqlite_tables(sqlite_db) == ["order_lines", "orders"]


@pytest.mark.parametrize("query", [
    "SELECT * FROM orders WHERE order_id = '700001'",
    "SELECT * FROM orders WHERE order_id = :id",
    "SELECT * FROM orders WHERE order_id = :order_id AND status = :status",
])
def test_the_query_binds_order_id_and_nothing_else(query: str) -> None:
    with pytest.raises(BadRequest, match=":order_id"):
        checked_query(query)


def test_a_select_with_comments_and_a_final_semicolon_is_accepted() -> None:
    checked_query("-- the shop's orders\n/* v2 */ SELECT order_id FROM orders "
                  "WHERE order_id = :order_id;\n")


# SQLite.

async def test_the_order_is_read_from_the_database(sqlite_source: SqlOrders) -> None:
    assert await sqlite_source.order("700001") == ORDER
    assert await sqlite_source.order("700009") is None


async def test_nothing_is_cached_a_changed_status_is_seen_at_the_next_question(
        sqlite_source: SqlOrders, sqlite_db: Path) -> None:
    first = await sqlite_source.order("700001")
    assert first is not None and first.status == "packed"
    set_sqlite_status(sqlite_db, "700001", "out for delivery")
    second = await sqlite_source.order("700001")
    assert second is not None and second.status == "out for delivery"


@pytest.mark.parametrize("order_id", [
    "700001' OR '1'='1", "700001'; DROP TABLE orders; --", "' UNION SELECT * FROM orders --",
    "700001 OR 1=1",
])
async def test_an_injection_in_the_order_id_is_inert(sqlite_source: SqlOrders, sqlite_db: Path,
                                                   order_id: str) -> None:
    assert await sqlite_source.order(order_id) is None
    assert sqlite_tables(sqlite_db) == ["order_lines", "orders"]
    assert await sqlite_source.order("700001") == ORDER


async def test_sqlite_is_opened_read_only(sqlite_db: Path) -> None:
    # A SELECT cannot write in SQLite; the connection itself must refuse writes all the same.
    source = fast(f"sqlite:///{sqlite_db}")
    try:
        with source.engine().connect() as connection, pytest.raises(Exception, match="readonly"):
            connection.execute(text("DELETE FROM orders"))
    finally:
        await source.close()
    assert await fast(f"sqlite:///{sqlite_db}").order("700001") == ORDER


async def test_a_missing_database_file_is_unavailable_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    source = fast(f"sqlite:///{missing}")
    with pytest.raises(Unavailable):
        await source.order("700001")
    assert not missing.exists()


async def test_a_query_the_database_refuses_is_unavailable(sqlite_db: Path) -> None:
    source = fast(f"sqlite:///{sqlite_db}", "SELECT * FROM no_such_table WHERE id = :order_id")
    with pytest.raises(Unavailable, match="refused"):
        await source.order("700001")


async def test_a_query_without_the_contracts_columns_is_unavailable(sqlite_db: Path) -> None:
    source = fast(f"sqlite:///{sqlite_db}",
                  "SELECT order_id, status FROM orders WHERE order_id = :order_id")
    with pytest.raises(Unavailable, match="malformed"):
        await source.order("700001")


async def test_an_answer_about_another_order_is_refused(sqlite_db: Path) -> None:
    # A query that forgot its WHERE must not show one shopper another's order.
    careless = DEMO_QUERY.replace("WHERE o.order_id = :order_id", "WHERE :order_id IS NOT NULL")
    with pytest.raises(Unavailable, match="different order"):
        await fast(f"sqlite:///{sqlite_db}", careless).order("700009")


async def test_an_order_without_lines_is_found(sqlite_db: Path) -> None:
    with closing(sqlite3.connect(sqlite_db)) as db, db:
        db.execute("DELETE FROM order_lines")
    order = await fast(f"sqlite:///{sqlite_db}").order("700001")
    assert order is not None and order.lines == () and order.total == 0


@pytest.mark.parametrize("url", ["nosuchdb://host/shop", "sqlite://", "sqlite:///:memory:",
                                 "not a url"])
def test_a_url_that_cannot_hold_the_orders_stops_the_start(url: str) -> None:
    with pytest.raises(BadRequest):
        SqlOrders(url, DEMO_QUERY)


def test_the_password_is_passed_apart_and_never_shown() -> None:
    source = SqlOrders("postgresql://shop@db.example/shop", PG_QUERY, password="s3cret-pw")
    assert source.engine().url.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(source)


# PostgreSQL.

async def test_the_order_is_read_from_postgresql(pg_source: SqlOrders) -> None:
    assert await pg_source.order("700001") == ORDER
    guest = await pg_source.order("700002")
    assert guest is not None
    assert (guest.customer_id, guest.expected_delivery, guest.lines) == (None, "not known yet", ())
    assert await pg_source.order("700009") is None


async def test_a_changed_status_in_postgresql_is_seen_at_the_next_question(
        pg_source: SqlOrders, pg_admin: Engine) -> None:
    assert (await pg_source.order("700002")).status == "processing"  # type: ignore[union-attr]
    with pg_admin.begin() as db:
        db.execute(text("UPDATE shop_orders SET state = 'shipped' WHERE id = '700002'"))
    try:
        assert (await pg_source.order("700002")).status == "shipped"  # type: ignore[union-attr]
    finally:
        with pg_admin.begin() as db:
            db.execute(text("UPDATE shop_orders SET state = 'processing' WHERE id = '700002'"))


async def test_an_injection_in_the_order_id_is_inert_in_postgresql(
        pg_source: SqlOrders, pg_admin: Engine) -> None:
    for attempt in ("700001' OR '1'='1", "700001'; DROP TABLE shop_lines; --"):
        assert await pg_source.order(attempt) is None
    with pg_admin.connect() as db:
        assert db.execute(text("SELECT count(*) FROM shop_lines")).scalar_one() == 2


async def test_postgresql_runs_the_query_read_only(pg: Postgres, pg_admin: Engine) -> None:
    # nextval() writes from inside a SELECT: a read-only transaction refuses it.
    writing = PG_QUERY.replace("SELECT o.id", "SELECT nextval('lookups') AS n, o.id")
    source = fast(pg.url, writing)
    try:
        with pytest.raises(Unavailable, match="refused"):
            await source.order("700001")
    finally:
        await source.close()
    with pg_admin.connect() as db:
        assert db.execute(text("SELECT last_value, is_called FROM lookups")).one() == (1, False)


async def test_a_slow_query_times_out_and_postgresql_ends_it(pg: Postgres,
                                                               pg_admin: Engine) -> None:
    slow = PG_QUERY.replace("WHERE o.id = :order_id",
                            "WHERE o.id = :order_id AND (SELECT true FROM pg_sleep(5))")
    source = fast(pg.url, slow, timeout_s=0.5, retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable, match="did not answer"):
            await source.order("700001")
    finally:
        await source.close()
    assert time.monotonic() - started < 2
    # The server's statement timeout stopped it: no query left sleeping. (A transaction sees
    # one snapshot of pg_stat_activity: each look is its own.)
    for _ in range(30):
        with pg_admin.connect() as db:
            sleeping = db.execute(text("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE state = 'active' AND query LIKE '%pg_sleep(5)%' "
                                       "AND pid <> pg_backend_pid()")).scalar_one()
        if sleeping == 0:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the timed-out query is still running")


async def test_postgresql_down_is_unavailable_the_breaker_opens_and_recovers(
        pg: Postgres, pg_source: SqlOrders) -> None:
    assert await pg_source.order("700001") == ORDER
    pg.stop()
    try:
        for _ in range(2):
            with pytest.raises(Unavailable, match="did not answer"):
                await pg_source.order("700001")
        assert pg_source.breaker.is_open
        started = time.monotonic()
        with pytest.raises(Unavailable, match="not asked again yet") as refused:
            await pg_source.order("700001")
        assert time.monotonic() - started < 0.1 and refused.value.retry_after == 1
    finally:
        pg.start()
    await asyncio.sleep(pg_source.breaker.open_s)
    # The trial after the open time finds the server back (the pool's dead connections dropped).
    assert await pg_source.order("700001") == ORDER
    assert not pg_source.breaker.is_open


# The demo shop, on the same path.

@pytest.fixture(scope="module")
def prepared_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny shop's transactions prepared as ``shopbot prepare`` does (guests, a cancellation)."""
    root = tmp_path_factory.mktemp("prepared")
    prepare_shop(write_transactions(root / "transactions.csv"), root / "shop")
    return root / "shop"


async def test_the_demo_database_answers_as_orders_json_does(prepared_shop: Path) -> None:
    expected = load_orders(prepared_shop)
    assert {"C500011", "500004", "500009"} <= expected.keys()
    demo = DemoOrders({normalise_order_id(k): v for k, v in expected.items()})
    source = demo_sql_source(prepared_shop)
    try:
        assert (prepared_shop / DB_NAME).exists()
        for order_id, order in expected.items():
            number = normalise_order_id(order_id)
            assert await source.order(number) == order == await demo.order(number)
        assert await source.order("999999") is None
    finally:
        await source.close()


async def test_the_demo_database_follows_a_new_orders_json(prepared_shop: Path,
                                                            tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.json").write_bytes((prepared_shop / "orders.json").read_bytes())
    assert await demo_sql_source(shop).order("500009") is not None
    # A new prepare (a newer orders.json) is converted again at the next start.
    (shop / "orders.json").write_text("[]", encoding="utf-8")
    future = time.time() + 5
    os.utime(shop / "orders.json", (future, future))
    assert await demo_sql_source(shop).order("500009") is None
    assert sqlite_tables(shop / DB_NAME) == ["order_lines", "orders"]

