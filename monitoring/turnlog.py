"""The turn log: every turn in one SQL table through SQLAlchemy (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
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
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from core.turns import Flag, Hit, Route, TurnRecord
from monitoring.records import FACTS_KEY, refreshed_flags

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


def _insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL both have it)."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise ValueError(f"the turn log supports SQLite and PostgreSQL, not {dialect}")


def row_of(record: TurnRecord) -> dict[str, Any]:
    """The table row of a record (also the journal's line, with ``ts`` as ISO text)."""
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
        "meta": {k: v for k, v in record.metadata.items() if k != "feedback"},
    }


def record_of(row: Any) -> TurnRecord:
    """The record of a row read from the turns table."""
    return record_from_row(row._mapping)


def record_from_row(row: Mapping[str, Any]) -> TurnRecord:
    """The record of a row mapping (from the table or a journal line)."""
    ts = row["ts"]
    feedback = row.get("feedback")
    return TurnRecord(
        conversation_id=row["conversation_id"],
        turn_id=row["turn_id"],
        ts=datetime.fromisoformat(ts) if isinstance(ts, str) else ts,
        channel=row["channel"],
        user_text=row["user_text"],
        route=Route(row["route"]),
        response=tuple(row["response"]),
        hits=tuple(Hit(h["id"], h["kind"], h["score"], h.get("text", "")) for h in row["hits"]),
        latency_ms=dict(row["latency_ms"]),
        versions=dict(row["versions"]),
        flags=frozenset(Flag(f) for f in row["flags"]),
        metadata={**row["meta"], **({"feedback": feedback} if feedback is not None else {})},
    )


class TurnLog:
    """Synchronous access to the turn table; call it from a worker thread, not the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Create the table when missing."""
        metadata.create_all(self.engine)

    def write(self, records: Sequence[TurnRecord]) -> None:
        """Insert a batch of turns in one transaction; a turn already logged is left as it is.

        Idempotent by ``turn_id``, so a batch replayed from the journal after a crash, or
        retried after an outage, never duplicates a turn.
        """
        if not records:
            return
        insert = _insert(self.engine.dialect.name)(turns).on_conflict_do_nothing(index_elements=["turn_id"])
        with self.engine.begin() as conn:
            conn.execute(insert, [row_of(r) for r in records])

    def records(self, conversation_id: str | None = None) -> Iterator[TurnRecord]:
        """Turns in time order, optionally of one conversation."""
        query = select(turns).order_by(turns.c.ts, turns.c.turn_id)
        if conversation_id is not None:
            query = query.where(turns.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield record_of(row)

    def set_feedback(self, conversation_id: str, turn_id: str, value: int) -> bool:
        """Store thumbs up (+1) or down (-1) on a turn; its flags are recomputed from its facts."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(turns).where(turns.c.turn_id == turn_id, turns.c.conversation_id == conversation_id)
            ).first()
            if row is None:
                return False
            facts, flags = refreshed_flags(_facts(row), feedback=value)
            conn.execute(
                update(turns).where(turns.c.turn_id == turn_id)
                .values(feedback=value, flags=flags, meta={**row.meta, FACTS_KEY: facts})
            )
        return True


_BOOLEAN_FACTS = {
    "pii_redacted": Flag.PII_REDACTED, "error": Flag.ERROR, "generation_failed": Flag.GENERATION_FAILED,
    "negative_sentiment": Flag.NEGATIVE_SENTIMENT, "escalated": Flag.ESCALATED,
}


def _facts(row: Any) -> dict[str, Any]:
    """A row's stored facts; rows logged before facts were stored get facts that give their flags."""
    meta = row.meta or {}
    if FACTS_KEY in meta:
        return dict(meta[FACTS_KEY])
    flags = set(row.flags or ())
    # Measurements on the far side of any threshold reproduce exactly the flags the row has.
    return {
        "route": row.route,
        "confidence": 0.0 if str(Flag.LOW_CONFIDENCE) in flags else 1.0,
        "total_ms": float("inf") if str(Flag.SLOW) in flags else 0.0,
        "grounding_score": 0.0 if str(Flag.UNGROUNDED) in flags else None,
        **{name: str(flag) in flags for name, flag in _BOOLEAN_FACTS.items()},
    }
