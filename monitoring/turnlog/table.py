"""The ``turns`` table, a record's row and back, and the predicates every turn query shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    or_,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.turns import Flag, Hit, Route, TurnRecord

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


class _ListHolds(FunctionElement[bool]):
    """Whether a JSON list column holds a given string: each dialect's own JSON list reader."""

    type = Boolean()
    name = "list_holds"
    inherit_cache = True


@compiles(_ListHolds)
def _unsupported(element: _ListHolds, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"the turn log supports SQLite and PostgreSQL, not {compiler.dialect.name}")


@compiles(_ListHolds, "sqlite")
def _sqlite_holds(element: _ListHolds, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({column}) AS item WHERE item.value = {value})"


@compiles(_ListHolds, "postgresql")
def _postgresql_holds(element: _ListHolds, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return (f"EXISTS (SELECT 1 FROM json_array_elements_text({column}) AS item(value) "
            f"WHERE item.value = {value})")


def has_flag(flag: Flag) -> ColumnElement[bool]:
    """Turns carrying ``flag``: the one test of the stored flag list, an element of it, not its text."""
    return _ListHolds(turns.c.flags, str(flag))


def beyond(ts: datetime, turn_id: str, *, later: bool) -> ColumnElement[bool]:
    """Turns after (or before) the position ``(ts, turn_id)`` in the log's order."""
    c = turns.c
    if later:
        return or_(c.ts > ts, and_(c.ts == ts, c.turn_id > turn_id))
    return or_(c.ts < ts, and_(c.ts == ts, c.turn_id < turn_id))
