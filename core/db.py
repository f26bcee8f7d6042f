"""The database engine factory (SQLite file or PostgreSQL, through SQLAlchemy) and UTC helpers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from core.errors import Unavailable

# A PostgreSQL that is down answers "connection refused" at once; one that is unreachable
# must not hold a turn for the kernel's TCP timeout either.
CONNECT_TIMEOUT_S = 3


def as_utc(ts: datetime) -> datetime:
    """``ts`` in UTC; naive values (SQLite drops the offset) are taken to be UTC already."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def database_url(url: str) -> str:
    """``url`` with the driver spelled out: a bare ``postgresql://`` means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created.

    One application opens one engine and shares its pool between every store. A lost or
    refused connection surfaces as :class:`core.errors.Unavailable`, whichever store hit it.
    """
    parsed = make_url(database_url(url))
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        kwargs["pool_timeout"] = CONNECT_TIMEOUT_S
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "handle_error", _unavailable)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        event.listen(engine, "connect", _write_ahead_log)
    return engine


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    # WAL: a commit is one append and one fsync (synchronous stays FULL, so a committed turn
    # survives a power cut), where the default rollback journal costs several; readers (the
    # consoles) no longer wait for the turn-log writer, nor it for them.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _unavailable(context: Any) -> None:
    # The pre-ping relies on SQLAlchemy's own disconnect handling; leave it alone.
    if getattr(context, "is_pre_ping", False):
        return
    error = context.original_exception
    if context.is_disconnect or isinstance(context.sqlalchemy_exception, OperationalError | InterfaceError):
        if _locked_sqlite(error):
            return
        raise Unavailable(f"the database is unavailable: {type(error).__name__}") from error


def _locked_sqlite(error: BaseException) -> bool:
    # SQLite's "database is locked" is an OperationalError too, but a busy file is not an outage.
    return "database is locked" in str(error)


# Any fixed 64-bit number, the same in every worker: the key of the schema's advisory lock.
SCHEMA_LOCK = 0x5B0_7AB1E5


def create_tables(engine: Engine, tables: Sequence[MetaData]) -> None:
    """Create whichever of ``tables`` are missing (blocking), one worker at a time."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Workers started together on an empty database would race in CREATE TABLE, and all
            # but one fail on a unique violation in pg_type. Under this lock (released at commit)
            # the first creates the tables and the others then find them.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        for metadata in tables:
            metadata.create_all(conn)
