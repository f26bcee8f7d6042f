"""The turn log: every turn in one SQL table through SQLAlchemy (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url

from monitoring.schema import Flag, Hit, Route, TurnRecord

metadata = MetaData()

turns = Table(
    "turns",
    metadata,
    Column("turn_id", String(64), primary_key=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("user_text", Text, nullable=False),
    Column("route", String(32), nullable=False, index=True),
    Column("response", JSON, nullable=False),
    Column("hits", JSON, nullable=False),
    Column("latency_ms", JSON, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("feedback", Integer, nullable=True),
    Column("meta", JSON, nullable=False),
)


def as_utc(ts: datetime) -> datetime:
    """``ts`` in UTC; naive values (SQLite drops the offset) are taken to be UTC already."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True)


def _row(record: TurnRecord) -> dict[str, Any]:
    return {
        "turn_id": record.turn_id,
        "conversation_id": record.conversation_id,
        "ts": record.ts,
        "channel": record.channel,
        "user_text": record.user_text,
        "route": str(record.route),
        "response": list(record.response),
        "hits": [h.to_json() for h in record.hits],
        "latency_ms": dict(record.latency_ms),
        "versions": dict(record.versions),
        "flags": sorted(str(f) for f in record.flags),
        "feedback": None,
        "meta": dict(record.metadata),
    }


def _record(row: Any) -> TurnRecord:
    ts: datetime = row.ts
    return TurnRecord(
        conversation_id=row.conversation_id,
        turn_id=row.turn_id,
        ts=ts,
        channel=row.channel,
        user_text=row.user_text,
        route=Route(row.route),
        response=tuple(row.response),
        hits=tuple(Hit(h["id"], h["kind"], h["score"], h.get("text", "")) for h in row.hits),
        latency_ms=dict(row.latency_ms),
        versions=dict(row.versions),
        flags=frozenset(Flag(f) for f in row.flags),
        metadata={**row.meta, "feedback": row.feedback},
    )


class TurnLog:
    """Synchronous access to the turn table; call it from a worker thread, not the event loop."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def create(self) -> None:
        """Create the table when missing."""
        metadata.create_all(self.engine)

    def write(self, records: Sequence[TurnRecord]) -> None:
        """Insert a batch of turns in one transaction."""
        if records:
            with self.engine.begin() as conn:
                conn.execute(turns.insert(), [_row(r) for r in records])

    def records(self, conversation_id: str | None = None) -> Iterator[TurnRecord]:
        """Turns in time order, optionally of one conversation."""
        query = select(turns).order_by(turns.c.ts, turns.c.turn_id)
        if conversation_id is not None:
            query = query.where(turns.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield _record(row)

    def set_feedback(self, conversation_id: str, turn_id: str, value: int) -> bool:
        """Store thumbs up (+1) or down (-1) on a turn; a thumbs down adds ``negative_feedback``."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(turns.c.flags).where(
                    turns.c.turn_id == turn_id, turns.c.conversation_id == conversation_id
                )
            ).first()
            if row is None:
                return False
            flags = set(row.flags) - {str(Flag.NEGATIVE_FEEDBACK)}
            if value < 0:
                flags.add(str(Flag.NEGATIVE_FEEDBACK))
            conn.execute(
                update(turns).where(turns.c.turn_id == turn_id).values(feedback=value, flags=sorted(flags))
            )
        return True

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()
