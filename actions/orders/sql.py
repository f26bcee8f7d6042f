"""The SQL connector: the shop's own database answers a configured ``SELECT`` per question.

The query's contract (one row per order line, the column names below) is in docs/orders.md.
Each question runs the query anew: nothing of an order is kept after the call returns.

Columns the query returns (any others are ignored; order columns are read from the first row):

* ``order_id`` (required): must be the order asked for, compared normalised;
* ``status`` (required), ``date`` (required: when it was placed);
* ``customer_id``, ``expected_delivery``, ``country``, ``email``, ``postcode``, ``currency``
  (optional: absent or NULL is "not known"; a currency other than GBP is refused);
* per line: ``stock_code``, ``name``, ``quantity``, ``price``; a row whose ``stock_code`` is
  NULL is not a line (an order without lines from a ``LEFT JOIN``).

No row is "no such order". The query is given the normalised order number (upper-case
letters and digits) as the bound parameter ``:order_id``; it is never formatted into the text.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import TextClause

from actions.orders.breaker import CircuitBreaker, through
from actions.services import normalise_order_id
from core.db import database_url
from core.errors import BadRequest, Unavailable
from core.shop import Order, OrderLine

log = logging.getLogger(__name__)

PARAMETER = "order_id"
REQUIRED = ("order_id", "status", "date")
LINE_COLUMNS = ("stock_code", "name", "quantity", "price")
# More lines than this is not an order (the HTTP contract's limit too): refused, not truncated.
MAX_LINES = 1000
# Order.total and the reply show pounds; another currency is refused rather than mislabelled.
CURRENCIES = frozenset({"GBP"})
NOT_KNOWN = "not known yet"

_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)


def checked_query(query: str) -> TextClause:
    """The configured query as a statement, when it is one ``SELECT`` that binds ``:order_id``
    and nothing else; else ``BadRequest`` saying what is wrong (a start-up error)."""
    body = query.strip().removesuffix(";").rstrip()
    # A ";" anywhere else could start a second statement; refused even inside a literal.
    if ";" in body:
        raise BadRequest("the orders query must be one statement: no ';' inside it")
    head = _LEADING_COMMENTS.sub("", body)
    if not re.match(r"select\b", head, re.IGNORECASE):
        raise BadRequest("the orders query must be a SELECT")
    # "SELECT ... INTO t" creates a table in PostgreSQL.
    if re.search(r"\binto\b", head, re.IGNORECASE):
        raise BadRequest("the orders query must not SELECT ... INTO")
    try:
        statement = text(body)
        names = set(statement.compile().params)
    except (ArgumentError, SQLAlchemyError) as err:
        raise BadRequest(f"the orders query does not parse: {type(err).__name__}") from err
    if names != {PARAMETER}:
        raise BadRequest(f"the orders query must bind :{PARAMETER} and no other parameter "
                         f"(it binds {', '.join(sorted(names)) or 'none'})")
    return statement


class _Retry(Exception):
    """This try failed in a way another try may not (connection lost or refused, timeout)."""


class SqlOrders:
    """Orders read from the shop's database with the configured ``query`` (see the module).

    SQLite and PostgreSQL URLs (others SQLAlchemy knows may work: untested); the password, if
    any, is given apart from the URL. The query runs in a worker thread, read-only (SQLite
    opened read-only, PostgreSQL in read-only transactions with a statement timeout), each
    try within ``timeout_s``; a lost connection or timeout is tried again up to ``retries``
    times (``backoff_s``, doubling). A lookup that still fails, or a query the database
    refuses, or malformed rows, raises ``Unavailable`` and counts towards the ``breaker``.
    """

    def __init__(self, url: str, query: str, *, password: str | None = None,
                 timeout_s: float = 3.0, retries: int = 2, backoff_s: float = 0.2,
                 breaker: CircuitBreaker | None = None) -> None:
        self._url = _with_password(url, password)
        self.statement = checked_query(query)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.breaker = breaker or CircuitBreaker()
        # Made now (a wrong URL or a missing driver stops the start), connecting at the first
        # question (a start needs no database).
        self._engine = _read_only_engine(self._url, timeout_s)

    def __repr__(self) -> str:
        # Never the password.
        return f"SqlOrders({self._url.render_as_string(hide_password=True)!r})"

    async def order(self, order_id: str) -> Order | None:
        """The order from the shop's database now; None when it has none; ``Unavailable`` when
        it cannot say."""
        return await through(self.breaker, partial(self._fetch, order_id),
                             "the shop's order database is not answering; not asked again yet")

    async def _fetch(self, order_id: str) -> Order | None:
        tries = 1 + self.retries
        for attempt in range(1, tries + 1):
            try:
                rows = await self._try(order_id)
            except _Retry as err:
                log.warning("order lookup in %r failed (try %d of %d): %s", self, attempt, tries,
                            err)
                if attempt < tries:
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
                continue
            return self._parse(order_id, rows)
        raise Unavailable("the shop's order database did not answer")

    async def _try(self, order_id: str) -> list[Mapping[str, Any]]:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._select, order_id),
                                          timeout=self.timeout_s)
        except TimeoutError as err:
            # The thread may still be waiting; PostgreSQL's statement timeout ends its query.
            raise _Retry(f"no answer within {self.timeout_s:g} s") from err

    def _select(self, order_id: str) -> list[Mapping[str, Any]]:
        try:
            with self._engine.connect() as connection:
                try:
                    result = connection.execute(self.statement, {PARAMETER: order_id})
                    # Column names as the contract spells them, whatever case the query used.
                    return [{str(k).lower(): v for k, v in row._mapping.items()}
                            for row in result.fetchmany(MAX_LINES + 1)]
                finally:
                    # Read-only: nothing is ever committed.
                    connection.rollback()
        except DBAPIError as err:
            if _retryable(err, self._url.get_backend_name()):
                raise _Retry(type(err.orig).__name__) from err
            # The database refused the query itself (a missing table or column, a write).
            log.error("order lookup in %r: the database refused the query (%s)", self,
                      type(err.orig).__name__)
            raise Unavailable("the shop's order database refused the orders query") from err
        except SQLAlchemyError as err:
            raise _Retry(type(err).__name__) from err

    def _parse(self, order_id: str, rows: Sequence[Mapping[str, Any]]) -> Order | None:
        # Logged: what was wrong, never a value (personal data).
        if not rows:
            return None
        if len(rows) > MAX_LINES:
            log.error("order lookup in %r: more than %d rows", self, MAX_LINES)
            raise Unavailable("the shop's order database sent a malformed order")
        missing = [c for c in (*REQUIRED, *LINE_COLUMNS) if c not in rows[0]]
        if missing:
            log.error("order lookup in %r: the query returns no column %s", self,
                      ", ".join(missing))
            raise Unavailable("the shop's order database sent a malformed order")
        head = rows[0]
        asked = normalise_order_id(order_id)
        if any(normalise_order_id(row["order_id"]) != asked for row in rows):
            log.error("order lookup in %r: asked for one order, answered with another", self)
            raise Unavailable("the shop's order database sent a different order")
        currency = _text(head.get("currency")).upper() or "GBP"
        if currency not in CURRENCIES:
            log.error("order lookup in %r: currency %s is not supported (only %s)", self,
                      currency[:8], ", ".join(sorted(CURRENCIES)))
            raise Unavailable("the shop's order is in a currency Shopbot cannot show")
        try:
            return Order(
                order_id=_required(head, "order_id"),
                customer_id=_customer_id(head.get("customer_id")),
                date=_when(_required(head, "date", raw=True)),
                country=_text(head.get("country")),
                status=_required(head, "status"),
                expected_delivery=(_when(head["expected_delivery"])
                                   if head.get("expected_delivery") is not None else NOT_KNOWN),
                lines=tuple(_line(row) for row in rows if row["stock_code"] is not None),
                email=_text(head.get("email")),
                postcode=_text(head.get("postcode")),
            )
        except (TypeError, ValueError, ArithmeticError) as err:
            log.error("order lookup in %r: malformed row (%s)", self, err)
            raise Unavailable("the shop's order database sent a malformed order") from err

    def engine(self) -> Engine:
        """The read-only connection pool the query runs on."""
        return self._engine

    async def close(self) -> None:
        """Close the pool's connections (the server's actions context calls this on stop)."""
        self._engine.dispose()


def _with_password(url: str, password: str | None) -> URL:
    try:
        parsed = make_url(database_url(url))
    except ArgumentError as err:
        raise BadRequest("the orders database URL does not parse") from err
    return parsed.set(password=password) if password else parsed


def _read_only_engine(url: URL, timeout_s: float) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise BadRequest("the orders database must be a SQLite file, not in memory")
        # mode=ro: a missing file is an error, not a new empty database; query_only besides.
        uri = Path(url.database).absolute().as_uri() + "?mode=ro"
        # A connection per question (NullPool): "sqlite://" would otherwise get SQLAlchemy's
        # SingletonThreadPool, whose dispose closes connections other threads are still reading
        # with (a segfault in sqlite3, seen when a server stopped mid-lookup). Opening a file is
        # cheap next to a shopper's question.
        engine = create_engine("sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(
            uri, uri=True, timeout=timeout_s, check_same_thread=False))
        event.listen(engine, "connect", _sqlite_query_only)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": timeout_s}
    if backend == "postgresql":
        # Set at connection start, so no rollback undoes it: every transaction is read-only,
        # and a query the caller stopped waiting for is ended by the server.
        statement_ms = max(1, int(timeout_s * 1000))
        kwargs["connect_args"] = {
            "connect_timeout": max(1, math.ceil(timeout_s)),
            "options": f"-c default_transaction_read_only=on -c statement_timeout={statement_ms}",
        }
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as err:
        raise BadRequest(f"no database driver for the orders URL: {type(err).__name__}") from err


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()


def _retryable(err: DBAPIError, backend: str) -> bool:
    """Whether another try may get past ``err``: a lost, refused or busy connection, a
    timeout; not a query or data the database refuses."""
    if err.connection_invalidated:
        return True
    if not isinstance(err, OperationalError | InterfaceError):
        return False
    if backend == "sqlite":
        # "no such table" and "readonly database" are OperationalErrors too: the query's fault.
        return any(words in str(err.orig) for words in _SQLITE_UNREACHABLE)
    return True


_SQLITE_UNREACHABLE = ("unable to open", "locked", "disk I/O", "not a database")


def _required(row: Mapping[str, Any], column: str, raw: bool = False) -> Any:
    value = row[column]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{column} is empty")
    return value if raw else _text(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _customer_id(value: Any) -> str | None:
    # A numeric column gives 12345 or Decimal("12345"); the reply compares ids as text.
    if value is None:
        return None
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return _text(value) or None


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return _text(value)


def _line(row: Mapping[str, Any]) -> OrderLine:
    quantity, price = row["quantity"], row["price"]
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal | float) \
            or quantity != int(quantity) or quantity < 0:
        raise ValueError("quantity is not a whole number of at least 0")
    if isinstance(price, bool) or not isinstance(price, int | Decimal | float) or price < 0 \
            or not math.isfinite(price):
        raise ValueError("price is not a number of at least 0")
    return OrderLine(_required(row, "stock_code"), _text(row["name"]), int(quantity),
                     float(price))
