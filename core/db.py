"""The database engine factory (SQLite file or PostgreSQL, through SQLAlchemy) and UTC helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url


def as_utc(ts: datetime) -> datetime:
    """``ts`` in UTC; naive values (SQLite drops the offset) are taken to be UTC already."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created.

    One application opens one engine and shares its pool between every store.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True)
