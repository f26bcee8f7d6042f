"""The turn log's writer: every turn in one SQL table through SQLAlchemy (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from core.turns import Flag, TurnRecord
from monitoring.records import FACTS_KEY, refreshed_flags
from monitoring.turnlog.table import metadata, record_of, row_of, turns


def _insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL both have it)."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise ValueError(f"the turn log supports SQLite and PostgreSQL, not {dialect}")


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

    def turn_ids(self) -> set[str]:
        """The id of every logged turn (what the reliability checks count)."""
        with self.engine.connect() as conn:
            return {row.turn_id for row in conn.execute(select(turns.c.turn_id))}

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
